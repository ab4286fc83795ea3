"""Synonyms through the engine and the response: the request's book (``RankRequest.merchandising``)
adds its terms to search recall, the page records the sets that fired (``RankedPage.synonyms``,
the response's ``synonyms``), and no book or an empty one leaves every page as it was."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import loaded_service_state

from ranking.engine import Engine, RankedPage
from ranking.merchandising.book import EMPTY_BOOK, MerchandisingBook
from ranking.merchandising.synonym import Synonym
from ranking.pipeline import RankRequest
from serving.pages import serve_page
from serving.schemas import RankingResponse
from serving.state import ServiceState

MADE_UP = "zqxfone"  # a word no title holds


@pytest.fixture(scope="module")
def state(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    yield from loaded_service_state(small_models, tmp_path_factory)


@pytest.fixture(scope="module")
def word(state: ServiceState) -> str:
    """A frequent Latin title word of the small mall."""
    titles = state.engine.catalog.titles_of(state.engine.snapshot.products.ids)
    words = Counter(w for t in titles for w in str(t).lower().split() if w.isascii() and w.isalpha()
                    and len(w) > 3)
    return words.most_common(1)[0][0]


def _search(engine: Engine, query: str, book=None, explain: bool = False) -> RankedPage:
    request = RankRequest(surface="search", page_size=20, now_ms=engine.snapshot.as_of_ms, hour=12,
                          query=query, seed=3, explain=explain, merchandising=book)
    return engine.rank("search", request)


def _same(a: RankedPage, b: RankedPage) -> None:
    assert [c["product_id"] for c in a.cards] == [c["product_id"] for c in b.cards]
    assert [c["score"] for c in a.cards] == [c["score"] for c in b.cards]
    assert (a.query_words, a.notice, a.text_matched, a.dropped) == (b.query_words, b.notice, b.text_matched,
                                                                    b.dropped)
    assert a.synonyms is None and b.synonyms is None


def test_no_book_an_empty_book_and_a_book_that_does_not_fire_give_the_same_page(state, word) -> None:
    engine = state.engine
    plain = _search(engine, word, None, explain=True)
    assert plain.cards
    _same(plain, _search(engine, word, EMPTY_BOOK, explain=True))
    other = MerchandisingBook(synonyms=(Synonym(terms=["tea", "茶"], reason="unrelated", id="tea"),))
    _same(plain, _search(engine, word, other, explain=True))


def test_a_word_no_title_holds_finds_cards_through_its_synonym(state, word) -> None:
    engine = state.engine
    before = _search(engine, MADE_UP)
    assert before.notice["kind"] == "no_match" and not before.text_match
    book = MerchandisingBook(synonyms=(Synonym(terms=[MADE_UP, word], one_way=True, reason="r", id="s1"),))
    after = _search(engine, MADE_UP, book)
    assert after.synonyms == [{"id": "s1", "terms_added": [word]}]
    assert after.notice is None and after.text_match
    lexical = [c for c in after.cards if "lexical" in c["sources"]]
    assert lexical and all(MADE_UP in c["matched_words"] for c in lexical)
    assert after.query_words[0]["synonyms"] == [word]


def test_the_response_records_the_sets_that_fired_like_a_correction(state, word) -> None:
    engine = state.engine
    book = MerchandisingBook(synonyms=(Synonym(terms=[MADE_UP, word], one_way=True, reason="r", id="s1"),))
    bodies = {}
    for name, chosen in (("with", book), ("without", None)):
        request = RankRequest(surface="search", page_size=10, now_ms=engine.snapshot.as_of_ms, hour=12,
                              query=MADE_UP, seed=5, merchandising=chosen)
        bodies[name] = serve_page(state, "search", request, None).body
        RankingResponse.model_validate(bodies[name])  # the documented shape
    assert bodies["with"]["synonyms"] == [{"id": "s1", "terms_added": [word]}]
    assert bodies["without"]["synonyms"] is None
    assert bodies["with"]["corrected_query"] is None  # a synonym is not a correction
