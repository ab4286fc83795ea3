"""The operator's synonym sets compiled (ranking/merchandising/synonym_index.py): which terms a
query also searches, read the way search reads query words, and what the page records."""

from __future__ import annotations

import time

from ranking.merchandising.book import EMPTY_BOOK, MerchandisingBook
from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex, rewrite_of, units
from ranking.pipeline.candidates import RankRequest

PHONE = Synonym(terms=["phone", "手机", "smartphone"], reason="catalog says smartphone", id="syn-phone")


def _index(*synonyms: Synonym) -> SynonymIndex:
    return SynonymIndex(list(synonyms))


def test_a_two_way_set_maps_every_term_to_the_others() -> None:
    index = _index(PHONE)
    assert index.rewrite("phone").terms_added == ("手机", "smartphone")
    assert index.rewrite("手机").terms_added == ("phone", "smartphone")
    assert index.rewrite("smartphone").terms_added == ("phone", "手机")
    assert index.rewrite("phone").fired == ("syn-phone",)


def test_a_one_way_set_maps_only_its_first_term() -> None:
    index = _index(Synonym(terms=["phone", "手机", "smartphone"], one_way=True, reason="r", id="one"))
    assert index.rewrite("phone case").terms_added == ("手机", "smartphone")
    assert not index.rewrite("手机")
    assert not index.rewrite("smartphone")


def test_terms_are_read_as_search_reads_query_words() -> None:
    index = _index(PHONE)
    # case, width and the light plural stem fold; traditional Chinese is the simplified term
    for typed in ("PHONES", "ｐｈｏｎｅ", "Phone"):
        assert index.rewrite(typed).terms_added == ("手机", "smartphone"), typed
    assert index.rewrite("華為手機殼").terms_added == ("phone", "smartphone")
    # a Chinese term matches inside an unspaced run; a Latin one never inside another word
    assert index.rewrite("华为手机壳").alternatives[0].text == "手机"
    assert not index.rewrite("telephone") and not index.rewrite("phonebook")
    assert units("华为 手机 5G") == ("华", "为", "手", "机", "5", "g")


def test_a_multi_word_term_matches_only_as_a_phrase_and_the_longest_term_wins() -> None:
    index = _index(Synonym(terms=["cordless drill", "battery drill"], one_way=True, reason="r", id="phrase"),
                   Synonym(terms=["drill", "driver"], reason="r", id="word"))
    got = index.rewrite("Cordless Drills 18V")
    assert got.fired == ("phrase",) and got.terms_added == ("battery drill",)
    assert got.alternatives[0].matched == ("cordless", "drill")
    assert index.rewrite("drill cordless").fired == ("word",)  # not the phrase: only "drill" matches


def test_a_term_the_query_already_holds_is_not_added_and_the_record_names_each_set() -> None:
    index = _index(PHONE, Synonym(terms=["phone", "mobile"], reason="r", id="syn-mobile"))
    got = index.rewrite("smartphone phone")
    assert "smartphone" not in got.terms_added and "phone" not in got.terms_added
    assert got.record() == [{"id": "syn-phone", "terms_added": ["手机"]},
                            {"id": "syn-mobile", "terms_added": ["mobile"]}]
    assert got.expanded("smartphone phone") == "smartphone phone 手机 mobile"


def test_a_set_with_nothing_to_add_does_not_fire() -> None:
    assert not _index(Synonym(terms=["!!!", "phone"], one_way=True, reason="r", id="x")).rewrite("phone")
    assert _index().rewrite("phone").record() == []


def test_a_request_rewrites_only_on_search_with_a_book_holding_synonyms() -> None:
    def request(surface: str = "search", query: str | None = "phone", book=None) -> RankRequest:
        return RankRequest(surface=surface, page_size=10, now_ms=0, hour=12, query=query, merchandising=book)

    book = MerchandisingBook(synonyms=(PHONE,))
    assert rewrite_of(request()) is None and rewrite_of(request(book=EMPTY_BOOK)) is None
    assert rewrite_of(request(surface="homepage", query=None, book=book)) is None
    assert rewrite_of(request(query="rice", book=book)) is None
    searched = request(book=book)
    assert rewrite_of(searched).fired == ("syn-phone",)
    assert rewrite_of(searched) is rewrite_of(searched)  # once per request
    draft = book.with_synonym(Synonym(terms=["phone", "mobile"], reason="draft"))
    assert rewrite_of(request(book=draft)).record()[-1] == {"id": None, "terms_added": ["mobile"]}


def test_ten_thousand_sets_compile_in_well_under_a_second_and_rewrite_in_microseconds() -> None:
    sets = [Synonym(terms=[f"word{i}", f"term{i} extra", f"词{i}"], reason="bulk", id=f"s{i}")
            for i in range(10_000)]
    started = time.perf_counter()
    index = SynonymIndex(sets)
    built = time.perf_counter() - started
    assert len(index) == 10_000 and index.terms == 30_000
    assert built < 5.0, built  # about 0.4 s here; generous for a loaded 2-core machine
    started = time.perf_counter()
    for _ in range(1_000):  # the matching itself, not the rewrite kept per query text
        got = index._rewrite("cheap word42 for the garden term7 extra")
    per_query = (time.perf_counter() - started) / 1_000
    assert got.fired == ("s42", "s7")
    assert per_query < 0.002, per_query  # O(query words) lookups, not a loop over the sets


def test_a_query_rewrite_is_kept_per_index_and_bounded(monkeypatch) -> None:
    from ranking.merchandising import synonym_index

    monkeypatch.setattr(synonym_index, "REWRITES_KEPT", 2)
    index = SynonymIndex([Synonym(terms=["phone", "手机", "smartphone"], reason="r", id="s1")])
    matched = []
    match = index._rewrite
    monkeypatch.setattr(index, "_rewrite", lambda q: matched.append(q) or match(q))
    first = index.rewrite("phone case")
    assert index.rewrite("phone case") is first and matched == ["phone case"]  # kept
    assert first.terms_added == ("手机", "smartphone")
    assert not index.rewrite("rice") and not index.rewrite("rice")  # no set fires: kept too
    assert matched == ["phone case", "rice"]
    index.rewrite("tea")  # a third query: the oldest goes
    assert index.rewrite("phone case") == first and matched == ["phone case", "rice", "tea", "phone case"]
