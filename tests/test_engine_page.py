"""The engine's page says what serving used to compute from recall internals: which cards
matched a word of the query (``RankedPage.text_matched``) and whether a query has a
searchable word (``Engine.searchable``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ranking.engine import Engine
from ranking.pipeline import RankRequest
from ranking.settings import load_settings


@pytest.fixture(scope="module")
def engine(small_models: Path):
    eng = Engine.load(small_models / "latest", load_settings([]))
    yield eng
    eng.close()


def _request(engine: Engine, **fields) -> RankRequest:
    return RankRequest(page_size=20, now_ms=engine.snapshot.as_of_ms, hour=12, user_id=None, **fields)


def test_a_search_page_marks_the_cards_lexical_recall_proposed(engine: Engine) -> None:
    titles = engine.catalog.titles_of(engine.snapshot.products.ids[:200])
    word = Counter(w for t in titles for w in str(t).lower().split()).most_common(1)[0][0]
    page = engine.rank("search", _request(engine, surface="search", query=word))
    assert page.cards and len(page.text_matched) == len(page.cards)
    # a card matches when it holds the query's strongest word; every lexical card holds a word
    strongest = max(page.query_words, key=lambda w: (-w["products"], -page.query_words.index(w)))["word"]
    assert page.text_matched == [strongest in c["matched_words"] for c in page.cards]
    assert all(c["matched_words"] for c in page.cards if "lexical" in c["sources"])
    assert page.text_match is True


def test_pages_off_search_say_nothing_about_text(engine: Engine) -> None:
    ids = np.asarray(engine.snapshot.products.ids[:30], dtype=np.int64)
    assert engine.rank("homepage", _request(engine, surface="homepage")).text_match is None
    rerank = engine.rank("rerank", _request(engine, surface="search", query="oil", candidates=ids))
    assert rerank.text_matched is None


def test_a_query_of_only_symbols_is_not_searchable() -> None:
    assert not any(Engine.searchable(q) for q in ("!!!", "🙂🙂", "\u200b", "  "))
    assert all(Engine.searchable(q) for q in ("5L!!", "молоко", "コーヒー", "café"))


def test_card_catalog_lookups_find_known_ids_and_leave_the_rest_blank():
    from ranking.catalog import CardCatalog

    cat = CardCatalog(np.array([3, 5, 9]), np.array(["a", "b", "c"], dtype=object), np.array([1, 4]),
                      np.array(["s1", "s4"], dtype=object))
    assert cat.titles_of(np.array([9, 3, 4, 0, 10, 5])).tolist() == ["c", "a", "", "", "", "b"]
    assert cat.store_names_of(np.array([4, 2, -1, 1, 7])).tolist() == ["s4", "", "", "s1", ""]
    empty = CardCatalog(np.zeros(0, np.int64), np.zeros(0, dtype=object), np.zeros(0, np.int64),
                        np.zeros(0, dtype=object))
    assert empty.titles_of(np.array([1])).tolist() == [""]


def test_a_cards_fields_come_in_their_order_with_its_own_values(engine: Engine) -> None:
    """The card dicts are zipped from whole columns: each field in the documented order, and
    every value the card's own (its product's title, store and position)."""
    page = engine.rank("homepage", _request(engine, surface="homepage"))
    assert page.cards
    for i, card in enumerate(page.cards):
        assert list(card)[:15] == [
            "product_id", "title", "price", "price_advantage", "store_id", "store_name",
            "store_experience_score", "product_score", "subsidy", "badges", "score", "model_score",
            "position", "propensity", "sources"]
        assert card["position"] == i + 1
        assert card["title"] == str(engine.catalog.titles_of(np.array([card["product_id"]]))[0])
        assert card["store_name"] == str(engine.catalog.store_names_of(np.array([card["store_id"]]))[0])
