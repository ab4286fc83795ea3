"""Queries typed in pinyin: "shouji" means 手机, "pingban diannao" 平板电脑.

A shopper on a Latin keyboard, or one who skips the input method's choice, types the
sound of a Chinese word; BM25 over the catalog's characters cannot match it, and the
spelling corrector would look for an English word near it. :class:`PinyinReader` reads
such a word back into the catalog's own Chinese, the way an input method does, with the
catalog as its language model:

* the reader knows the characters and character bigrams of the catalog's vocabulary (the
  BM25 tokens of at least ``min_df`` products) and each character's readings without tones
  (``pypinyin``, every reading of a polyphone: 行 is "xing" and "hang"; ü typed as "v" or
  "u": 绿 is "lv" and "lu"). A character's usual reading costs nothing, its other ones
  ``log(OTHER_READING)``, so an unusual reading (款 as "xin", 大 as "tai") wins only
  through a much more frequent bigram;
* a word is cut into syllables that some catalog character reads as, and each syllable is
  given a character so that every neighbouring pair is a bigram of the catalog: a Viterbi
  search maximising log P(first character) + sum log P(next | previous) + the readings'
  costs, with the probabilities counted from the products holding them. Fewer, longer syllables win ties
  ("xian" is 鲜 if the catalog sells it, 西安 only when "xi an" reads better);
* a typed word may hold several Chinese words run together ("xiaomishouji": 小米 手机);
  starting a new word costs ``log(BREAK)`` and the first character's own probability, so
  an unbroken chain wins when the catalog writes one;
* a word is read only when it has at least two syllables and ``min_length`` letters, and
  every Chinese word of its reading has two characters or more (one syllable, "bao",
  names dozens of characters), so the result is always catalog bigram chains, never a
  guess from single characters.

:class:`ranking.recall.spelling.QuerySpeller` asks the reader about each a-z word no
product text holds before its edit-distance search, so a catalog's English words, numbers
and model codes never reach it, and the rewrite shows as a correction ("shouji" ->
"手机") in the service's ``corrected_query``. Built at load from the vocabulary in well
under a second (a few thousand distinct characters), it needs no table in the bundle, and
keeps only the readings of the catalog's characters (pypinyin's phrase dictionary is never
loaded).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable

_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
MAX_SYLLABLE = 6  # "zhuang", "chuang", "shuang"
OTHER_READING = 0.05  # the weight of a character's reading other than its usual one
BREAK = math.log(0.1)  # starting another word inside one typed word ("xiaomi|shouji")
_TONE_MARKS = dict.fromkeys(map(ord, "\u0300\u0301\u0304\u030c"))  # grave, acute, macron, caron


def _rank(candidate: tuple[float, int, str]) -> tuple[float, int, str]:
    """Readings compare by probability, then fewer syllables, then text (deterministic)."""
    return candidate[0], -candidate[1], candidate[2]


def is_han(ch: str) -> bool:
    """Whether ``ch`` is a CJK ideograph of the basic block or extension A."""
    return bool(_HAN.match(ch))


def _listed_readings() -> Callable[[str], list[str]]:
    """A function from a character to its toneless readings as pypinyin lists them (its
    usual one first). It reads pypinyin's character table (``pinyin_dict.json``) itself:
    importing pypinyin loads its phrase dictionary too, 56 MB in every service worker for
    nothing the reader uses; the table alone peaks at 16 MB even for all 20,902 basic-block
    ideographs, and only the catalog's characters are kept (``make bench`` rows
    ``recall_*_pypinyin_import_mb``, ``recall_*_pinyin_readings_mb``). Without that file,
    pypinyin's own API answers."""
    spec = importlib.util.find_spec("pypinyin")
    folder = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None
    path = os.path.join(folder, "pinyin_dict.json") if folder else None
    if path is None or not os.path.isfile(path):
        from pypinyin import Style, pinyin

        return lambda ch: pinyin(ch, style=Style.NORMAL, heteronym=True)[0]
    with open(path, encoding="utf-8") as f:
        table: dict[str, str] = json.load(f)

    def listed(ch: str) -> list[str]:
        readings: list[str] = []
        for r in table.get(str(ord(ch)), "").split(","):
            plain = unicodedata.normalize("NFC", unicodedata.normalize("NFD", r).translate(_TONE_MARKS))
            plain = plain.replace("ü", "v")  # pypinyin's NORMAL style writes ü as v
            if plain and plain not in readings:
                readings.append(plain)
        return readings or [ch]  # pypinyin gives a character it cannot read back as itself

    return listed


def character_readings(chars: list[str]) -> dict[str, dict[str, float]]:
    """Each character's toneless readings (every reading of a polyphone), ü written both
    "v" and "u", as shoppers type it, with their log weights: 0 for the usual reading
    (pypinyin's first), ``log(OTHER_READING)`` for the others."""
    listed_readings = _listed_readings()
    other = math.log(OTHER_READING)
    out: dict[str, dict[str, float]] = {}
    for ch in chars:
        listed = [r for r in listed_readings(ch) if r.isascii() and r.isalpha()]
        weights: dict[str, float] = {}
        for i, r in enumerate(listed):
            for spelling in {r, r.replace("v", "u")}:
                weights[spelling] = max(weights.get(spelling, other), 0.0 if i == 0 else other)
        out[ch] = weights
    return out


class PinyinReader:
    """Reads a-z words as pinyin of the catalog's Chinese (see the module doc)."""

    def __init__(self, document_frequency: dict[str, int], min_df: int = 2, min_length: int = 4,
                 grown_from: PinyinReader | None = None) -> None:
        """``grown_from``: a reader of a smaller vocabulary (the served one before a batch of new
        products) whose characters' readings are reused (a character's readings depend on it
        alone): the table is read only for characters it did not know."""
        self.min_length = min_length
        chars = {t: n for t, n in document_frequency.items() if len(t) == 1 and n >= min_df and _HAN.match(t)}
        bigrams = {t: n for t, n in document_frequency.items()
                   if len(t) == 2 and n >= min_df and _HAN.match(t) and t[0] in chars and t[1] in chars}
        total = sum(chars.values()) or 1
        self._start = {c: math.log(n / total) for c, n in chars.items()}
        self._next: dict[str, dict[str, float]] = defaultdict(dict)
        for pair, n in bigrams.items():
            self._next[pair[0]][pair[1]] = math.log(n / chars[pair[0]])
        self._by_syllable: dict[str, dict[str, float]] = defaultdict(dict)
        known = grown_from._readings if grown_from is not None else {}
        unread = sorted(c for c in chars if c not in known)
        fresh = character_readings(unread) if unread else {}
        self._readings = {ch: known[ch] if ch in known else fresh[ch] for ch in sorted(chars)}
        for ch, readings in self._readings.items():
            for r, weight in readings.items():
                self._by_syllable[r][ch] = weight
        self.syllables = frozenset(self._by_syllable)

    @property
    def characters(self) -> int:
        return len(self._start)

    def read(self, word: str) -> str | None:
        """The catalog Chinese ``word`` spells in pinyin, or None. A reading is one or more
        words (space-separated), each two or more characters the catalog writes next to
        each other: "xiaomishouji" is 小米 手机 when the titles hold "小米" and "手机"."""
        if len(word) < self.min_length or not self.syllables or not (word.isascii() and word.isalpha()):
            return None
        n = len(word)
        # best[i][(ch, long)] = (log probability, syllables, text) of the best reading of
        # word[:i] ending in character ch; long: its word has two characters or more
        best: list[dict[tuple[str, bool], tuple[float, int, str]]] = [{} for _ in range(n + 1)]
        for i in range(n):
            if i > 0 and not best[i]:
                continue
            ended = [v for (_, long), v in best[i].items() if long]  # a word may end here
            after_word = max(ended, key=_rank) if ended else None
            for j in range(i + 1, min(n, i + MAX_SYLLABLE) + 1):
                chars = self._by_syllable.get(word[i:j])
                if not chars:
                    continue
                if i == 0 or after_word is not None:  # a new word starts with this character
                    score, count, text = after_word if i else (0.0, 0, "")
                    for ch, weight in chars.items():
                        self._keep(best[j], (ch, False), (score + (BREAK if i else 0.0) + self._start[ch]
                                                          + weight, count + 1, f"{text} {ch}" if i else ch))
                for (last, _), (score, count, text) in best[i].items():
                    follow = self._next.get(last)
                    if not follow:
                        continue
                    for ch in chars.keys() & follow.keys():
                        step = follow[ch] + chars[ch]
                        self._keep(best[j], (ch, True), (score + step, count + 1, text + ch))
        ends = [v for (_, long), v in best[n].items() if long]
        return max(ends, key=_rank)[2] if ends else None

    @staticmethod
    def _keep(at: dict, state: tuple[str, bool], candidate: tuple[float, int, str]) -> None:
        held = at.get(state)
        if held is None or _rank(candidate) > _rank(held):
            at[state] = candidate
