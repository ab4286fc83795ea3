"""A book's synonym terms held by a search index (ranking/recall/held_terms.py,
QueryWordMatcher.hold_terms), built by the merchandising follower's thread
(ranking/live/merch_follower.py, serving/merchandising.py::synonym_terms_keeper): the same
recall, words and held cards, bit for bit, as terms computed per query; no page computes a held
term; a rewrite of another book never reads the table; the bound, the pacing and a replaced
book stop it."""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from ranking.live.merch_follower import MerchFollower
from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex
from ranking.recall import held_terms as held_terms_module
from ranking.recall.held_terms import entry_bytes
from ranking.recall.query_words import QueryWordMatcher
from ranking.recall.search import SearchRecall
from ranking.settings import RecallSettings, Settings, load_settings
from serving.merchandising import synonym_terms_keeper

LATIN = ["cordless", "drill", "battery", "phone", "smartphone", "case", "leather", "rice", "cooker",
         "oil", "olive", "kit", "stand", "charger", "wireless", "headphones", "lamp", "desk"]
CHINESE = ["手机", "手机壳", "电饭煲", "大米", "橄榄油", "平板电脑", "充电器", "耳机", "台灯", "华为"]
WORDS = LATIN + CHINESE
MB = 1 << 20


def _sets() -> list[Synonym]:
    """Every word in two sets (as bench.merch_synonyms builds them), a multi-word and a sub-word term."""
    return [Synonym(terms=[f"zq{i}", w, WORDS[(i + 1) % len(WORDS)]], reason="t", id=f"s{i}")
            for i, w in enumerate(WORDS)] + [
        Synonym(terms=["phon", "手机", "wireless charger"], one_way=True, reason="t", id="x"),
        Synonym(terms=["cordless drill", "battery kit", "nothing holds this"], reason="t", id="y")]


def _matcher(texts: list[str]) -> QueryWordMatcher:
    recall = SearchRecall.from_texts(texts, np.arange(10, 10 + len(texts)) * 3, dim=4)
    recall.use_query_words_from(RecallSettings(search_results_kept=0))  # every call scored
    return recall.query_words


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rng = np.random.default_rng(5)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 7))) for _ in range(2000)]


QUERIES = [*WORDS, "phon", "cordless drill", "zq3", "zq20 case", "华为手机壳", "leather phone case"]


def _counting(m: QueryWordMatcher) -> list[str]:
    """The terms ``m`` computes from now on (its ``_term_made`` spied)."""
    made: list[str] = []
    inner = m._term_made

    def spy(term: str) -> tuple:
        made.append(term)
        return inner(term)

    m._term_made = spy
    return made


def test_held_terms_give_the_same_recall_words_and_cards_and_no_page_computes_a_term(texts) -> None:
    index = SynonymIndex(_sets())
    held, plain = _matcher(texts), _matcher(texts)
    table = held.hold_terms(index, 64 * MB, 0.001)
    assert table is not None and table.complete and table.index is index
    assert set(table.table) == set(index.added_terms())
    assert any(table.table.values()) and not all(table.table.values())  # held terms and unheld ones
    made = _counting(held)
    fired = 0
    for query in QUERIES:
        rewrite = index.rewrite(query)
        fired += bool(rewrite)
        a, b = held.lexical(query, 50, rewrite), plain.lexical(query, 50, rewrite)
        assert np.array_equal(a[0], b[0]) and a[1].dtype == b[1].dtype and np.array_equal(a[1], b[1]), query
        s_a, s_b = held.scores(query, rewrite), plain.scores(query, rewrite)
        assert np.array_equal(s_a[0], s_b[0]) and np.array_equal(s_a[1], s_b[1]), query
        words = held.words_with(query, rewrite)
        assert words == plain.words_with(query, rewrite), query
        ids = np.concatenate([a[0], [7, 10]])  # and products the index does not know
        assert np.array_equal(held.held(words, ids), plain.held(words, ids))
    assert fired > len(WORDS)
    assert made == []  # every term a page asked for was read from the table
    assert len(held._terms) == 0 and len(plain._terms) > 0


def test_a_rewrite_of_another_book_reads_the_table_and_gets_the_same_bits(texts) -> None:
    """A term's entry depends on the term and the index only: a draft book's rewrite (a console
    preview) reads the book in force's table for the terms it holds, and computes the rest."""
    m, plain = _matcher(texts), _matcher(texts)
    m.hold_terms(SynonymIndex(_sets()[:3]), 64 * MB, 0.001)
    other = SynonymIndex(_sets())  # more sets than the table's book
    made = _counting(m)
    rewrite = other.rewrite("phone")
    a, b = m.lexical("phone", 50, rewrite), plain.lexical("phone", 50, rewrite)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    asked = {t for al in rewrite.alternatives for t in al.terms}
    assert set(made) == asked - set(m._held.table)
    assert m.hold_terms(None, 64 * MB, 0.001) is None and m._held is None  # a book without synonyms


def test_a_table_already_of_the_book_is_kept_and_another_book_replaces_it(texts) -> None:
    m, first, second = _matcher(texts), SynonymIndex(_sets()), SynonymIndex(_sets()[:3])
    table = m.hold_terms(first, 64 * MB, 0.001)
    made = _counting(m)
    assert m.hold_terms(first, 64 * MB, 0.001) is table and made == []  # every poll: nothing computed
    assert m.hold_terms(second, 64 * MB, 0.001).index is second and m._held.index is second


def test_the_bound_holds_the_first_terms_only_and_the_rest_are_computed_per_query(texts) -> None:
    index = SynonymIndex(_sets())
    full = _matcher(texts).hold_terms(index, 64 * MB, 0.001)
    bound = full.nbytes // 3
    m, plain = _matcher(texts), _matcher(texts)
    part = m.hold_terms(index, bound, 0.001)
    assert not part.complete and 0 < part.nbytes <= bound < full.nbytes
    assert part.nbytes == sum(entry_bytes(e) for e in part.table.values())
    assert 0 < len(part.table) < len(full.table)
    for query in QUERIES:
        rewrite = index.rewrite(query)
        a, b = m.lexical(query, 50, rewrite), plain.lexical(query, 50, rewrite)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), query
    assert _matcher(texts).hold_terms(index, 0, 0.001) is None  # 0 MB: none held


def test_the_build_yields_every_slice_and_stops_once_its_book_is_replaced(texts, monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(held_terms_module.time, "sleep", slept.append)
    index, m = SynonymIndex(_sets()), _matcher(texts)
    assert m.hold_terms(index, 64 * MB, 0.0).complete  # a slice of 0: a pause before every term
    assert len(slept) == len(index.added_terms())
    asked = iter([True, True, False])
    fresh = _matcher(texts)
    assert fresh.hold_terms(index, 64 * MB, 0.0, current=lambda: next(asked, False)) is None
    assert fresh._held is None  # nothing published for a replaced book


def test_the_follower_keeps_the_book_warm_on_its_thread_outside_the_fold_lock() -> None:
    seen: list[tuple] = []
    done = threading.Event()

    def keep(book, current) -> None:
        name = threading.current_thread().name
        seen.append((name, follower.lock.locked(), book is follower.book, current()))
        done.set()

    follower = MerchFollower([], poll_ms=10, keep_warm=keep)
    follower.start()
    try:
        assert done.wait(5)
        follower._book = MerchandisingBook(synonyms=(Synonym(terms=["a", "b"], reason="t"),))
        time.sleep(0.05)
    finally:
        follower.stop()
    assert seen[0] == ("merch-follower", False, True, True)


def test_a_long_hook_keeps_the_follower_polling_and_stops_when_the_book_is_replaced() -> None:
    polls: list[float] = []
    answers: list[bool] = []
    follower = MerchFollower([], poll_ms=10)

    def catch_up() -> int:
        polls.append(time.monotonic())
        if len(polls) == 3:  # a change folded while the hook works: a new book in force
            follower._book = MerchandisingBook(synonyms=(Synonym(terms=["c", "d"], reason="t"),))
        return 0

    def keep(book, current) -> None:
        until = time.monotonic() + 5
        while time.monotonic() < until:
            answers.append(current())
            if not answers[-1]:
                return
            time.sleep(0.002)

    follower.catch_up = catch_up
    follower.keep_warm = keep
    follower.warm()
    assert len(polls) == 3 and answers[-1] is False and all(answers[:-1])
    assert all(b - a >= 0.009 for a, b in itertools.pairwise(polls))  # every poll_ms, not every slice


def test_the_follower_survives_a_failing_hook() -> None:
    calls = []

    def keep(book, current) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    follower = MerchFollower([], poll_ms=5, keep_warm=keep)
    follower.start()
    time.sleep(0.1)
    follower.stop()
    assert len(calls) > 1


def test_the_service_keeper_holds_the_book_for_every_served_engine(texts) -> None:
    m = _matcher(texts)
    engine = SimpleNamespace(search=SimpleNamespace(query_words=m))
    router = SimpleNamespace(default=engine, engines={"x": engine})
    state = SimpleNamespace(settings=Settings(), router=router)
    keep = synonym_terms_keeper(state)
    book = MerchandisingBook(synonyms=tuple(_sets()))
    keep(book, lambda: True)
    assert m._held is not None and m._held.index is book.synonym_index and m._held.complete
    keep(MerchandisingBook(), lambda: True)  # no synonyms in force: the table is dropped
    assert m._held is None
    state.settings = load_settings(["merchandising.synonym_terms_held_mb=0"])
    keep(book, lambda: True)
    assert m._held is None


def test_the_settings_bound_and_pace_it() -> None:
    got = load_settings(["merchandising.synonym_terms_held_mb=2", "merchandising.synonym_terms_slice_ms=3"])
    assert got.merchandising.synonym_terms_held_mb == 2 and got.merchandising.synonym_terms_slice_ms == 3
