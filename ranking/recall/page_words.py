"""What a search page says it matched: the query's words per card and per page, and its notice.

:func:`page_words` reads the query's words (:mod:`ranking.recall.query_words`) against the
placed cards: each card gets ``matched_words`` (the query words its title, brand or
category text holds, sub-word matches named by the query word) and ``text_match`` (it holds
the strongest word); the page gets, per word, how many of its cards and of the catalog's
products hold it, and the partial-match or no-match notice when the strongest words are in
no product. A word the operator's synonyms stand for (:mod:`ranking.merchandising.synonym_index`)
is held by a card holding one of its terms. :func:`count_cards` recounts a page made of cards
from several pages (interleaving).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ranking.recall.query_words import QueryWordMatcher, QueryWords


@dataclass
class PageWords:
    text_matched: list[bool]  # per card: it holds the query's strongest word
    query_words: list[dict]  # per content word: word, cards, products, matched_inside
    notice: dict | None


def page_words(matcher: QueryWordMatcher, query: str, cards: list[dict], rewrite: Any = None) -> PageWords:
    """Mark each card with ``matched_words`` and say what the page matched of ``query``; with
    the operator's synonym ``rewrite`` a card holding a term holds the word it stands for, and
    the page's word lists the terms (``synonyms``)."""
    words: QueryWords = matcher.words_with(query, rewrite)
    content = words.content
    index = [words.words.index(w) for w in content]
    ids = np.array([c["product_id"] for c in cards], dtype=np.int64)
    held = matcher.held(words, ids)[:, index] \
        if cards else np.zeros((0, len(content)), dtype=bool)
    strongest = words.strongest
    top = content.index(strongest) if strongest is not None else None
    for card, row in zip(cards, held, strict=True):
        card["matched_words"] = [w.text for w, h in zip(content, row, strict=True) if h]
    summary = [{"word": w.text, "products": w.products, "matched_inside": list(w.inside), "cards": 0,
                **({"synonyms": list(w.synonyms)} if w.synonyms else {})} for w in content]
    return PageWords([bool(top is not None and row[top]) for row in held], count_cards(summary, cards),
                     words.notice(shown=bool(cards)))


def count_cards(query_words: list[dict], cards: list[dict]) -> list[dict]:
    """``query_words`` with each word's ``cards`` counted over these cards' ``matched_words``."""
    return [{**w, "cards": sum(w["word"] in c.get("matched_words", ()) for c in cards)} for w in query_words]
