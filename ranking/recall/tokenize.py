"""Tokenisation for a catalog whose titles and queries may be in any script.

Every text is first put in its *search form* (``search_form``): ``ranking.text.normalise``
(NFKC, so full-width forms fold; lower case; white space collapsed), then folded for
matching, so a query and a title that differ only in accents or letter variants share
their tokens:

* case folding (``str.casefold``: "straße" -> "strasse", Greek final "ς" -> "σ");
* accents dropped: canonical decomposition, then the combining marks of the Latin, Greek,
  Cyrillic, Hebrew and Arabic blocks are removed ("café" -> "cafe", "Ångström" ->
  "angstrom", "ё" -> "е", "й" -> "и", Arabic "أ" -> "ا", vowel points and harakat gone), and
  the text is recomposed (Hangul syllables, Japanese voiced kana stay whole). The vowel
  signs of Indic and South-East Asian scripts and the kana voicing marks are letters'
  parts, not accents, and are kept;
* letters with no decomposition mapped by hand: ø -> o, æ -> ae, œ -> oe, ł -> l,
  đ and ð -> d, þ -> th, ħ -> h, ı -> i, ŧ -> t;
* digits of every script become ASCII digits ("٥٠٠" -> "500"); soft hyphens, zero-width
  (non-)joiners, the word joiner, Arabic tatweel and variation selectors are removed;
* traditional Chinese characters become simplified ones ("平板電腦" -> "平板电脑",
  "紙巾" -> "纸巾"), character by character from OpenCC's table
  (:mod:`ranking.recall.han_variants`, 5,118 characters), so a shopper typing either script
  finds titles written in the other. Several traditional characters share one simplified
  form (發 and 髮 -> 发, 後 -> 后), as they do in simplified writing;
* hiragana become katakana ("こーひー" -> "コーヒー"): the two kana spell the same sounds,
  product names are mostly written in katakana and typed in either, as Japanese search
  engines fold them.

Tokens are then cut from the search form:

* scripts written without spaces between words become their characters and overlapping
  character bigrams ("食用油" -> 食, 用, 油, 食用, 用油), so a query matches a title that
  contains its words whatever the segmentation: CJK ideographs (with 々 〆 〇), Japanese
  hiragana and katakana (with the prolonged sound mark ー), Thai, Lao, Khmer and Myanmar;
  and Hangul, which is written with spaces but glues particles and compounds to a word
  ("커피를", "커피머신": bigrams let "커피" match them, as Lucene's CJK bigrams do).
  A "character" is a letter with the combining marks that follow it (Thai "น้" is one);
  a run of such scripts is one run, so "コーヒー豆" has the bigram "ー豆";
* every other letter (Latin, Cyrillic, Greek, Armenian, Georgian, Arabic, Hebrew,
  Devanagari and the other Indic scripts, ...) forms words with the combining
  marks inside them (Indic vowel signs); a word of Latin letters (a-z after folding) gets
  a light plural stem (trailing "s" on words longer than three letters), words of other
  scripts are kept whole;
* numbers ("2.5") are tokens, and split from letters glued to them ("500ml" -> "500",
  "ml").

Nothing else is a token: a text of only punctuation, symbols, emoji or invisible
characters ("!!!", "🙂") has none, and ``searchable`` says so. ``char_bigrams`` gives the
character bigrams of the whole search form with spaces removed, the unit of the
character-overlap feature. ASCII text (most queries and many titles) skips the folding.

``TOKENIZER_VERSION`` is saved with everything built from tokens (a bundle's feature
snapshot and search recall). Version 1 knew only a-z words, numbers and CJK ideographs;
version 2 read every script but kept traditional Chinese characters and hiragana as they
were; version 3 folds them to simplified characters and katakana. ``require_current_tokens``
lets an older part load when its catalog text has only characters both versions read
alike (for version 1: ASCII, simplified or shared CJK ideographs, punctuation and symbols
that do not fold; for version 2: anything but a traditional character or a hiragana), and
refuses it otherwise with the characters that changed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from operator import itemgetter

from ranking.recall.han_variants import SIMPLIFIED, TRADITIONAL
from ranking.text import normalise

TOKENIZER_VERSION = 3

# ---- character classes (built at import from the Unicode database: ~35 ms) -------------
_ACCENT_BLOCKS = ((0x0300, 0x036F), (0x0483, 0x0489), (0x0591, 0x05C7), (0x0610, 0x061A),
                  (0x064B, 0x065F), (0x0670, 0x0670), (0x06D6, 0x06ED), (0x1AB0, 0x1AFF),
                  (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
_INVISIBLE = (0x00AD, 0x0640, 0x200C, 0x200D, 0x2060, 0xFEFF, *range(0xFE00, 0xFE10),
              *range(0xE0100, 0xE01F0))
_LETTERS_BY_HAND = {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
                    "ħ": "h", "ı": "i", "ŧ": "t"}
# scripts without spaces between words: the letters of these blocks, and the ideographs
_UNSPACED_BLOCKS = ((0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF),
                    (0x19E0, 0x19FF), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x31F0, 0x31FF),
                    (0xA9E0, 0xA9FF), (0xAA60, 0xAA7F),
                    # Hangul (jamo and syllables): spaced, but a word carries its particles and
                    # compounds run together ("커피를", "커피머신"), so bigrams, as Lucene's CJK
                    # bigram filter does, let "커피" match them
                    (0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7AF),
                    (0xD7B0, 0xD7FF))
_IDEOGRAPHS = ((0x3005, 0x3007), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
               (0x20000, 0x3FFFF))
_BMP_END = 0x10000
_SCANNED_END = 0x20000  # planes 0-1: every letter, mark and digit but the ideographs
_VERSION_1_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NON_BMP = re.compile("[\U00010000-\U0010ffff]")


Spans = list[tuple[int, int]]  # inclusive code point ranges


def _class(spans: Spans, end: int) -> str:
    """Body of a regex character class holding the code points of ``spans`` below ``end``."""
    clipped = [(lo, min(hi, end - 1)) for lo, hi in spans if lo < end]
    return "".join(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in clipped)


@dataclass(frozen=True)
class _Alphabet:
    """Code points by role: letters of unspaced scripts (with the ideographs), other
    letters, combining marks; and what each non-ASCII decimal digit is."""

    unspaced: Spans
    word: Spans
    marks: Spans
    digits: dict[int, str]

    @classmethod
    def scan(cls) -> _Alphabet:
        """One pass over planes 0-1 of the Unicode database: each code point's category
        initial (L, M, N, ...), ideographs as I and unspaced-script letters as U, then runs."""
        categories = list(map(unicodedata.category, map(chr, range(_SCANNED_END))))
        kinds = bytearray("".join(map(itemgetter(0), categories)), "ascii")
        for lo, hi in _IDEOGRAPHS:
            hi = min(hi, _SCANNED_END - 1)
            if lo <= hi:
                kinds[lo : hi + 1] = b"I" * (hi - lo + 1)
        for lo, hi in _UNSPACED_BLOCKS:
            kinds[lo : hi + 1] = kinds[lo : hi + 1].replace(b"L", b"U")
        text = kinds.decode("ascii")

        def runs(kind: str) -> Spans:
            return [(m.start(), m.end() - 1) for m in re.finditer(f"{kind}+", text)]

        digits = {cp: str(unicodedata.decimal(chr(cp))) for cp in (m.start() for m in re.finditer("N", text))
                  if categories[cp] == "Nd" and cp > 0x7F}
        return cls(runs("U") + list(_IDEOGRAPHS), runs("L"), runs("M"), digits)

    def fold_table(self) -> dict[int, str | None]:
        """``str.translate`` table of the fold: accents and invisible characters removed,
        letters mapped by hand, digits made ASCII."""
        accents = [cp for lo, hi in self.marks for cp in range(lo, hi + 1)
                   if any(a <= cp <= b for a, b in _ACCENT_BLOCKS)]
        table: dict[int, str | None] = {cp: None for cp in (*accents, *_INVISIBLE)}
        table.update({ord(k): v for k, v in _LETTERS_BY_HAND.items()})
        table.update(self.digits)
        table.update(_VARIANT_FOLD)
        return table


@dataclass(frozen=True)
class _Patterns:
    token: re.Pattern  # groups: an unspaced run, a word, a number
    cluster: re.Pattern  # a character with its combining marks
    mark: re.Pattern

    @classmethod
    def compile(cls, alphabet: _Alphabet, end: int) -> _Patterns:
        """Patterns for the code points below ``end`` (smaller classes match faster)."""
        u, w, m = (_class(spans, end) for spans in (alphabet.unspaced, alphabet.word, alphabet.marks))
        return cls(re.compile(f"([{u}][{u}{m}]*)|([{w}][{w}{m}]*)|([0-9]+(?:\\.[0-9]+)?)"),
                   re.compile(f"[^{m}][{m}]*"), re.compile(f"[{m}]"))


# hiragana -> katakana (ぁ..ゖ -> ァ..ヶ, the iteration marks ゝゞ -> ヽヾ): one offset
_HIRAGANA = "".join(map(chr, range(0x3041, 0x3097))) + "ゝゞ"
_KATAKANA = "".join(map(chr, range(0x30A1, 0x30F7))) + "ヽヾ"
# the script-variant fold: traditional -> simplified Chinese, hiragana -> katakana
_VARIANT_FOLD: dict[int, int] = str.maketrans(TRADITIONAL + _HIRAGANA, SIMPLIFIED + _KATAKANA)
_VARIANTS = frozenset(TRADITIONAL + _HIRAGANA)  # isdisjoint is 3x faster than translating a title
_ALPHABET = _Alphabet.scan()
_FOLD = _ALPHABET.fold_table()
_BMP = _Patterns.compile(_ALPHABET, _BMP_END)  # any text with no character past U+FFFF


@cache
def _all_planes() -> _Patterns:
    return _Patterns.compile(_ALPHABET, 0x110000)


def _patterns(form: str) -> _Patterns:
    return _all_planes() if _NON_BMP.search(form) else _BMP


_ASCII_TOKEN = re.compile(r"[a-z]+|[0-9]+(?:\.[0-9]+)?")
_ASCII_WORD = re.compile(r"[a-z]+")
# what folding beyond the script-variant table (traditional Chinese, hiragana) can change:
# a character that is not ASCII, a CJK ideograph (basic block or extension A), kana or Hangul
_FOLDABLE = re.compile(r"[^\x00-\x7f\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")


# ---- the search form ---------------------------------------------------------------------
def fold(text: str) -> str:
    """An already normalised text folded for matching (case, accents, letter variants,
    digits, invisible characters, traditional Chinese, hiragana: see the module doc); ASCII
    comes back as it is."""
    if text.isascii():
        return text
    if _FOLDABLE.search(text) is None:  # Chinese, kana, Hangul and ASCII: only the variant table
        return text if _VARIANTS.isdisjoint(text) else text.translate(_VARIANT_FOLD)
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return unicodedata.normalize("NFC", decomposed.translate(_FOLD))


def search_form(text: str) -> str:
    """``normalise`` then ``fold``: the text tokens, character bigrams and the dense
    encoder's character n-grams are cut from."""
    return fold(normalise(text))


# ---- tokens ------------------------------------------------------------------------------
def stem(word: str) -> str:
    """The light plural stem every Latin token gets ("drills" -> "drill", "glass" stays)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _unspaced_tokens(run: str, patterns: _Patterns) -> list[str]:
    """Characters (each with its combining marks) and character bigrams of an unspaced run."""
    chars = patterns.cluster.findall(run) if patterns.mark.search(run) else run
    return [*chars, *(chars[i] + chars[i + 1] for i in range(len(chars) - 1))]


def searchable(text: str) -> bool:
    """Whether ``text`` holds a token (a word or character of any script, a number) that a
    product's text could share: the one test of a query with no searchable words."""
    form = search_form(text)
    pattern = _ASCII_TOKEN if form.isascii() else _patterns(form).token
    return pattern.search(form) is not None


def tokenize(text: str) -> list[str]:
    """Tokens of ``text``: characters and bigrams of unspaced scripts, words (Latin ones
    lightly stemmed), numbers."""
    form = search_form(text)
    tokens: list[str] = []
    if form.isascii():
        for run in _ASCII_TOKEN.findall(form):
            tokens.append(run if run[0].isdigit() else stem(run))
        return tokens
    patterns = _patterns(form)
    for unspaced, word, number in patterns.token.findall(form):
        if unspaced:
            tokens.extend(_unspaced_tokens(unspaced, patterns))
        elif word:
            tokens.append(stem(word) if word.isascii() else word)
        else:
            tokens.append(number)
    return tokens


def pieces(text: str) -> list[tuple[bool, list[str]]]:
    """The runs :func:`tokenize` cuts ``text`` into, in order, each as (unspaced, units):
    an unspaced-script run with its characters (each with its combining marks), or a word
    (Latin ones lightly stemmed) or number as one unit. The query's words are made from these
    (:mod:`ranking.recall.query_words`)."""
    form = search_form(text)
    if form.isascii():
        return [(False, [run if run[0].isdigit() else stem(run)]) for run in _ASCII_TOKEN.findall(form)]
    patterns = _patterns(form)
    out: list[tuple[bool, list[str]]] = []
    for unspaced, word, number in patterns.token.findall(form):
        if unspaced:
            chars = patterns.cluster.findall(unspaced) if patterns.mark.search(unspaced) else list(unspaced)
            out.append((True, chars))
        else:
            out.append((False, [stem(word) if word and word.isascii() else (word or number)]))
    return out


def words_in(form: str) -> list[tuple[int, int, str]]:
    """(start, end, word) of each word of a spaced script in a normalised or search-form
    text: the letters (with their combining marks) that :func:`tokenize` keeps whole, not
    numbers nor the characters of unspaced scripts."""
    if form.isascii():
        return [(m.start(), m.end(), m.group()) for m in _ASCII_WORD.finditer(form)]
    return [(m.start(2), m.end(2), m.group(2)) for m in _patterns(form).token.finditer(form) if m.group(2)]


def is_word(token: str) -> bool:
    """Whether ``token`` is one word of a spaced script (Latin, Cyrillic, Greek...)."""
    return bool(token) and words_in(token) == [(0, len(token), token)]


def char_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of the search form with white space removed."""
    compact = search_form(text).replace(" ", "")
    if len(compact) == 1:
        return [compact]
    return [compact[i : i + 2] for i in range(len(compact) - 1)]


# ---- parts built by an older tokenizer --------------------------------------------------
class TokenizerVersionError(ValueError):
    """A saved part's tokens were cut by another tokenizer version than this code's."""


def read_as_in_version(version: int, ch: str) -> bool:
    """Whether this tokenizer reads character ``ch`` exactly as tokenizer ``version`` did,
    wherever it stands. Version 2 read every character as this one does but a traditional
    Chinese one and hiragana; version 1 read alike only ASCII and CJK ideographs, and characters that
    neither version folds nor puts in a token (punctuation, symbols, emoji)."""
    if ord(ch) in _VARIANT_FOLD:
        return False
    if version >= 2 or ch.isascii() or _VERSION_1_CJK.match(ch):
        return True
    patterns = _patterns(ch)
    return fold(ch) == ch and patterns.token.search(ch) is None and patterns.mark.match(ch) is None


_READ_BY = {1: "a-z words, numbers and Chinese characters only",
            2: "every script, traditional Chinese and hiragana kept as written"}
_READ_NOW = {1: "accents folded, words of other scripts, traditional Chinese folded to simplified",
             2: "traditional Chinese folded to simplified, hiragana to katakana"}


def require_current_tokens(version: int, catalog_characters: Iterable[str] | None, part: str) -> None:
    """Accept a saved ``part`` whose tokens were cut by tokenizer ``version`` if this code
    would cut the same ones from its catalog text (every character read as before), or
    raise :class:`TokenizerVersionError` saying why and to rebuild."""
    if version == TOKENIZER_VERSION:
        return
    rebuild = "rebuild the bundle (shelfrank train) with this code"
    if version not in _READ_BY:
        raise TokenizerVersionError(f"{part} was built with tokenizer version {version}, this code "
                                    f"reads version {TOKENIZER_VERSION}: {rebuild}")
    if catalog_characters is None:
        raise TokenizerVersionError(f"{part} was built with tokenizer version {version} and there is no "
                                    f"catalog text to check it against: {rebuild}")
    changed = sorted({ch for ch in catalog_characters if not read_as_in_version(version, ch)})
    if changed:
        shown = " ".join(changed[:12]) + (f" (+{len(changed) - 12} more)" if len(changed) > 12 else "")
        raise TokenizerVersionError(
            f"{part} was built with tokenizer version {version} ({_READ_BY[version]}), and its catalog "
            f"text has characters version {TOKENIZER_VERSION} reads differently ({_READ_NOW[version]}): "
            f"{shown}; {rebuild}")
