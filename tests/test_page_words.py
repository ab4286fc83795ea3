"""What a search page says it matched (ranking/recall/page_words.py): matched words per card,
``text_match`` as holding the strongest word, per-word counts on the page, the notice."""

from __future__ import annotations

import numpy as np

from ranking.recall.page_words import count_cards, page_words
from ranking.recall.search import SearchRecall

TEXTS = ["Dyson cordless vacuum cleaner", "Midea cordless vacuum", "Bosch corded vacuum", "rice cooker"]


def _matcher():
    return SearchRecall.from_texts(TEXTS, np.arange(1, 5), dim=4).query_words


def test_cards_say_which_words_they_hold_and_match_only_with_the_strongest() -> None:
    cards = [{"product_id": 1}, {"product_id": 3}, {"product_id": 4}]
    said = page_words(_matcher(), "cordless vacuum", cards)
    assert [c["matched_words"] for c in cards] == [["cordless", "vacuum"], ["vacuum"], []]
    assert said.text_matched == [True, False, False]  # cordless (2 products) is rarer than vacuum (3)
    assert said.query_words == [
        {"word": "cordless", "products": 2, "matched_inside": [], "cards": 1},
        {"word": "vacuum", "products": 3, "matched_inside": [], "cards": 2}]
    assert said.notice is None


def test_a_page_whose_strongest_word_is_in_no_product_has_a_notice_and_no_match() -> None:
    cards = [{"product_id": 1}, {"product_id": 2}]
    said = page_words(_matcher(), "cordless drill", cards)
    assert said.text_matched == [False, False]
    assert said.notice["kind"] == "partial" and said.notice["unmatched"] == ["drill"]
    assert [w["cards"] for w in said.query_words] == [2, 0]
    empty = page_words(_matcher(), "drill", [])
    assert empty.text_matched == [] and empty.notice["message"] == "No product matches 'drill'."


def test_counts_are_redone_for_a_page_of_cards_from_several_pages() -> None:
    words = [{"word": "cordless", "products": 2, "matched_inside": [], "cards": 2}]
    merged = [{"product_id": 1, "matched_words": ["cordless"]}, {"product_id": 4, "matched_words": []}]
    assert count_cards(words, merged)[0]["cards"] == 1
