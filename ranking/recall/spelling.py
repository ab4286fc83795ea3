"""Query spelling correction against the catalog's own vocabulary ("did you mean").

Shoppers misspell: on the Home Depot queries one in five holds a word that no product text
contains ("vaccuum", "faucit", "hindges"), and BM25 cannot match a word it has never
seen. :class:`QuerySpeller` rewrites such words to catalog words, and only those:

* words of spaced scripts are corrected (Latin, Cyrillic, Greek, Armenian, Georgian...:
  ``ranking.recall.tokenize.words_in``), each folded first as the tokenizer folds it
  ("Crème" is "creme", "Ёлка" is "елка"), towards catalog words of such scripts; a word
  whose token (the folded word, Latin ones with the light plural stem) is in the
  vocabulary is left alone, and so are words shorter than ``min_length``, numbers, Chinese
  and the other unspaced scripts (character bigrams already match any segmentation),
  words whose letters carry combining marks (Devanagari and the other Indic scripts: code
  point edits are no model of their typos) and letters fused to digits or Chinese ("T恤",
  "hc22e": model codes and names, not typos; a word fused only to Chinese may still be
  read as pinyin, "华为shouji" -> "华为手机"). A correction is written as the catalog's
  token, so it is folded ("crèmme" -> "creme", "малоко" -> "молоко");
* an a-z word that is a suffixed form of a catalog word ("staining" with "stain" in the
  catalog) is left alone: it is a variant, not a typo (English suffixes only); so is a
  short word that starts a catalog word ("elec" for "electric"): an abbreviation;
* a word of two or more pinyin syllables that the catalog's Chinese spells
  (:class:`ranking.recall.pinyin.PinyinReader`, when the owner gives one) becomes that
  Chinese ("shouji" -> "手机", "pingbandiannao" -> "平板电脑"), from ``min_length`` letters
  of its own (4: "dami" -> "大米");
* otherwise, in this order: the most frequent catalog word one edit away (Damerau:
  insert, delete, substitute, swap two neighbours); a split into two catalog words of at
  least three letters ("petscreen" -> "pet screen"); the most frequent word two edits away,
  for words of at least ``min_length_two_edits`` letters (shorter words two edits from a
  catalog word are as often brand names the catalog lacks: "bolens" is not "blend").

Targets are catalog words with at least ``min_df`` products (a typo in one title is not a
target). Candidates come from a symmetric-delete index (every word with up to two letters
deleted, keyed by CRC-32 in sorted numpy arrays: a few MB for 15k words, built in well
under a second) and are verified by the exact edit distance, so hash collisions cost
nothing but a comparison. A corrector for a grown vocabulary (a batch of new products:
:mod:`ranking.live.new_products`) is built from the served one (``grown_from``): only the words
that became targets are expanded, and the arrays are a fresh build's, so every answer is too
(42 -> 5 ms of CPU a batch of 1,000 at 50,000 products; scratch reading,
``/tmp/bulk-add-15/speller_cpu.py``). ``QuerySpeller.correct`` does the whole lookup on every call;
the corrector's owner (:meth:`ranking.recall.search.SearchRecall.correct`) keeps recent
answers in an LRU cache (``recall.spelling_cache_queries``).
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ranking.recall.pinyin import PinyinReader, is_han
from ranking.recall.tokenize import fold, is_word, words_in
from ranking.recall.tokenize import stem as token_stem
from ranking.text import normalise

SUFFIXES = ("ings", "ing", "ers", "er", "ed", "es", "en", "ly", "ness", "s")
ABBREVIATION_MAX = 5  # a word this short that starts a catalog word is an abbreviation ("elec")


@dataclass(frozen=True)
class SpellCorrection:
    """``text``: the normalised query as corrected (what recall and features read; they
    normalise anyway); ``corrections``: (typed, catalog) pairs, none when searched as typed."""

    typed: str
    text: str
    corrections: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @classmethod
    def as_typed(cls, query: str) -> SpellCorrection:
        """``query`` searched as typed: no corrector, correction off, or nothing to correct."""
        return cls(query, normalise(query))

    @property
    def changed(self) -> bool:
        return bool(self.corrections)


def _deletes(word: str, depth: int) -> set[str]:
    out = {word}
    for d in range(1, min(depth, len(word) - 1) + 1):
        for drop in combinations(range(len(word)), d):
            out.add("".join(c for i, c in enumerate(word) if i not in drop))
    return out


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment Damerau-Levenshtein distance (adjacent swaps cost one)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def _key(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _delete_keys(words: list[str], first: int, max_distance: int) -> tuple[list[int], list[int]]:
    """The symmetric-delete index's keys of ``words`` and their owners (``first`` + position)."""
    keys, owners = [], []
    for i, w in enumerate(words, first):
        for d in _deletes(w, max_distance):
            keys.append(_key(d))
            owners.append(i)
    return keys, owners


class QuerySpeller:
    """``grown_from``: a corrector built over a smaller vocabulary (the served one before a batch
    of new products, :func:`ranking.recall.search.speller_of`): its delete index is reused and only
    the words that became targets since are expanded, the arrays equal to a fresh build's (keys
    ascending, equal keys by owner); a fresh build when its settings differ or a target was lost."""

    def __init__(self, document_frequency: dict[str, int], min_df: int = 2, max_distance: int = 2,
                 min_length: int = 5, min_length_two_edits: int = 7,
                 pinyin: PinyinReader | None = None, grown_from: QuerySpeller | None = None) -> None:
        if not 0 <= max_distance <= 2:
            raise ValueError(f"max_distance must be 0, 1 or 2, not {max_distance}")
        self.df = document_frequency
        self.pinyin = pinyin
        self.min_df, self.max_distance = min_df, max_distance
        self.min_length, self.min_length_two_edits = min_length, min_length_two_edits
        self.words = sorted(w for w, n in document_frequency.items()
                            if n >= min_df and len(w) >= 3 and w.isalpha() and is_word(w))
        self.grown = grown_from is not None and self._grow(grown_from)
        if not self.grown:
            keys, owners = _delete_keys(self.words, 0, max_distance)
            keys_arr = np.asarray(keys, dtype=np.uint32)
            order = np.argsort(keys_arr, kind="stable")  # equal keys by owner: they were listed so
            self._keys, self._owners = keys_arr[order], np.asarray(owners, dtype=np.int32)[order]

    def _grow(self, earlier: QuerySpeller) -> bool:
        """The delete index from ``earlier``'s and the new targets' deletes; False (nothing set)
        when it cannot be: other settings, or a target of ``earlier`` is not one now."""
        if (earlier.min_df, earlier.max_distance) != (self.min_df, self.max_distance):
            return False
        position = {w: i for i, w in enumerate(self.words)}
        moved = np.fromiter((position.get(w, -1) for w in earlier.words), np.int64, len(earlier.words))
        if (moved < 0).any():
            return False
        known = set(earlier.words)
        added = [w for w in self.words if w not in known]
        keys, owners = _delete_keys(added, 0, self.max_distance)
        added_rows = np.fromiter((position[w] for w in added), np.int64, len(added))
        all_keys = np.r_[earlier._keys, np.asarray(keys, dtype=np.uint32)]
        all_owners = np.r_[moved[earlier._owners], added_rows[np.asarray(owners, dtype=np.int64)]]
        order = np.lexsort((all_owners, all_keys))  # a fresh build's order: by key, then owner
        self._keys, self._owners = all_keys[order], all_owners[order].astype(np.int32)
        return True

    @property
    def index_bytes(self) -> int:
        return int(self._keys.nbytes + self._owners.nbytes)

    # ---- one word ------------------------------------------------------------------------
    @staticmethod
    def _token(word: str) -> str:
        """The catalog's token of a folded word: Latin words lose a plural "s", others stay."""
        return token_stem(word) if word.isascii() else word

    def _known(self, word: str) -> bool:
        return self._token(word) in self.df

    def _variant(self, word: str) -> bool:
        if not word.isascii():  # English suffixes only
            return False
        for suffix in SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                base = word[: -len(suffix)]
                if base in self.df or base + "e" in self.df or (len(base) > 3 and base[-1] == base[-2]
                                                               and base[:-1] in self.df):
                    return True
        return False

    def _abbreviation(self, word: str) -> bool:
        if len(word) > ABBREVIATION_MAX:
            return False
        at = bisect_left(self.words, word)
        return at < len(self.words) and self.words[at].startswith(word)

    def _candidates(self, word: str, distance: int) -> list[tuple[int, int, str]]:
        keys = np.unique(np.fromiter((_key(d) for d in _deletes(word, distance)), dtype=np.uint32))
        lo = np.searchsorted(self._keys, keys, side="left")
        hi = np.searchsorted(self._keys, keys, side="right")
        owners = {int(o) for a, b in zip(lo.tolist(), hi.tolist(), strict=True) for o in self._owners[a:b]}
        out = []
        for o in owners:
            cand = self.words[o]
            if abs(len(cand) - len(word)) <= distance:
                d = edit_distance(word, cand)
                if d <= distance:
                    out.append((d, -self.df[cand], cand))
        return sorted(out)

    def correct_word(self, word: str) -> str:
        """The catalog word(s) ``word`` most likely meant, or ``word`` itself."""
        if not word.isalpha() or self._known(word) or self._variant(word) or self._abbreviation(word):
            return word
        if self.pinyin is not None and (chinese := self.pinyin.read(word)):
            return chinese
        if len(word) < self.min_length:
            return word
        stem = self._token(word)
        plural = "s" if stem != word else ""  # the catalog's tokens are singular stems
        if self.max_distance >= 1:
            near = self._candidates(stem, 1)  # the stem is unknown: none is 0 edits away
            if near:
                return near[0][2] + plural
        splits = [(min(self.df.get(self._token(word[:i]), 0), self.df.get(self._token(word[i:]), 0)), i)
                  for i in range(3, len(word) - 2)]
        best = max(splits, default=(0, 0))
        if best[0] >= self.min_df:
            return f"{word[:best[1]]} {word[best[1]:]}"
        if self.max_distance >= 2 and len(stem) >= self.min_length_two_edits:
            far = self._candidates(stem, 2)
            if far:
                return far[0][2] + plural
        return word

    def _pinyin_only(self, word: str) -> str:
        """A word glued to Chinese: read as pinyin (the input method switched mid-word:
        "华为shouji"), never edit-corrected (a Latin name or code beside Chinese: "T恤")."""
        if self.pinyin is None or not word.isalpha() or self._known(word):
            return word
        return self.pinyin.read(word) or word

    # ---- a query -------------------------------------------------------------------------
    def correct(self, query: str) -> SpellCorrection:
        """``query`` with each word no catalog text holds rewritten (uncached: the full lookup)."""
        text = normalise(query)
        pieces, corrections, at = [], [], 0
        for start, end, word in words_in(text):
            around = [c for c in (text[start - 1] if start else "", text[end] if end < len(text) else "")
                      if c.isalnum()]
            if any(not is_han(c) for c in around):  # fused to digits or letters ("hc22e"): a code
                continue
            folded = fold(word)  # as the catalog's tokens are: "café" is "cafe"
            # fused to Chinese ("华为shouji", "T恤"): pinyin typed mid-word, or a name
            fixed = self._pinyin_only(folded) if around else self.correct_word(folded)
            if fixed != folded:
                pieces += [text[at:start], fixed]
                at = end
                corrections.append((word, fixed))
        if not corrections:
            return SpellCorrection.as_typed(query)
        pieces.append(text[at:])
        return SpellCorrection(query, "".join(pieces), tuple(corrections))
