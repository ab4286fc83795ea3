"""Tokenisation for a catalog that mixes Chinese and Latin text.

Chinese has no spaces, so a run of CJK characters becomes its single characters and its
overlapping character bigrams ("食用油" -> 食, 用, 油, 食用, 用油): a query matches a title
that contains its words whatever the segmentation. Latin text becomes words and numbers
after NFKC folding and lower-casing (``ranking.text.normalise``), with a light plural
stemmer (trailing "s" on words longer than three letters) and units kept glued to numbers
split apart ("500ml" -> "500", "ml"). Nothing else is a token: a text of only punctuation,
symbols or emoji ("!!!", "🙂") has none, and ``searchable`` says so. ``char_bigrams`` gives
the character bigrams of the whole text with spaces removed, the unit of the
character-overlap feature.
"""

from __future__ import annotations

import re

from ranking.text import normalise

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z]+|[0-9]+(?:\.[0-9]+)?")


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def stem(word: str) -> str:
    """The light plural stem every Latin token gets ("drills" -> "drill", "glass" stays)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def searchable(text: str) -> bool:
    """Whether ``text`` holds a token (a-z word, number, Chinese character) that a product's
    text could share: the one test of a query with no searchable words."""
    return _TOKEN.search(normalise(text)) is not None


def tokenize(text: str) -> list[str]:
    """Tokens of ``text``: CJK characters and bigrams, Latin words (light stem), numbers."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(normalise(text)):
        run = match.group()
        if _is_cjk(run[0]):
            tokens.extend(run)
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif run[0].isdigit():
            tokens.append(run)
        else:
            tokens.append(stem(run))
    return tokens


def char_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of the normalised text with white space removed."""
    compact = normalise(text).replace(" ", "")
    if len(compact) == 1:
        return [compact]
    return [compact[i : i + 2] for i in range(len(compact) - 1)]
