"""A query's kept dense recall carried across a new-products swap (ranking/recall/vector_index.py
``top_after_append``, ranking/recall/search.py ``dense``): an index grown by appended rows answers a
query kept for the index it grew from with that list and a scan of the appended rows only when the
answer is provably its own full scan's (same ids, same order, same score bits), and scans every row
otherwise; a known product's new text (``retext``) keeps nothing."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from ranking.engine import Engine
from ranking.live.new_product_search import (
    append_search,
    bm25_settings,
    encode,
    replace_search,
    search_statistics,
)
from ranking.live.new_products import add_products, search_of
from ranking.pipeline import RankRequest
from ranking.recall.search import DENSE_CARRIED, SearchRecall
from ranking.recall.vector_index import VectorIndex
from ranking.settings import load_settings


def _unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _grown(old: np.ndarray, new: np.ndarray) -> tuple[VectorIndex, VectorIndex]:
    """The index of ``old`` and a clone with ``new`` appended, as new products grow it."""
    ids = np.arange(len(old), dtype=np.int64) * 3 + 5
    before = VectorIndex.build(old, ids)
    clone = faiss.clone_index(before.index)
    clone.add(np.ascontiguousarray(new))
    after = VectorIndex(clone, np.r_[ids, 10**6 + np.arange(len(new))].astype(np.int64), "exact", before.dim)
    return before, after


def _same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> bool:
    return got[0].tolist() == want[0].tolist() and got[1].tobytes() == want[1].tobytes()


@pytest.mark.parametrize(("n_old", "n_new", "k"), [(2_001, 500, 150), (2_000, 37, 20), (3_001, 1, 5),
                                                   (90, 400, 150), (1_000, 1_000, 600)])
def test_the_carried_answer_is_the_grown_index_scan_bit_for_bit(n_old, n_new, k, one_faiss_thread) -> None:
    rng = np.random.default_rng(n_old + n_new + k)
    old, new = _unit(rng, n_old), _unit(rng, n_new)
    before, after = _grown(old, new)
    queries = np.r_[new[rng.integers(0, n_new, 20)], _unit(rng, 20)]  # near new rows, and anywhere
    answered = 0
    for q in queries:
        scores, ids = before.search(q[None], k)
        got = after.top_after_append(q[None], k, ids[0], scores[0], before.size)
        want_scores, want_ids = after.search(q[None], k)
        if got is not None:
            answered += 1
            assert _same(got, (want_ids[0], want_scores[0]))
    assert answered >= 20  # the queries near an appended row: one makes the list, no tie decides it


def test_ties_inside_the_list_keep_faiss_order_and_a_tie_at_its_end_scans_every_row(one_faiss_thread) -> None:
    rng = np.random.default_rng(7)
    old = _unit(rng, 400)[rng.integers(0, 400, 1_500)]  # many equal vectors: equal scores in every list
    before, copies = _grown(old, old[rng.integers(0, 1_500, 300)])  # each appended row ties with old ones
    answered = 0
    for q in _unit(rng, 40):
        for k in (50, 150):
            scores, ids = before.search(q[None], k)
            got = copies.top_after_append(q[None], k, ids[0], scores[0], before.size)
            want_scores, want_ids = copies.search(q[None], k)
            assert got is None or _same(got, (want_ids[0], want_scores[0]))
            answered += got is not None and bool((got[1][1:] == got[1][:-1]).any())  # ties inside
            last, first = (ids[0][[-1, 0]] - 5) // 3  # their rows (_grown's ids)
            _, at_end = _grown(old, old[[last]])  # the k-th place tied: faiss's choice, not ours
            assert at_end.top_after_append(q[None], k, ids[0], scores[0], before.size) is None
            _, at_top = _grown(old, old[[first]])  # tied at the top: answered, in faiss's order
            got = at_top.top_after_append(q[None], k, ids[0], scores[0], before.size)
            want_scores, want_ids = at_top.search(q[None], k)
            assert _same(got, (want_ids[0], want_scores[0])) if scores[0][-2] > scores[0][-1] else got is None
            _, far = _grown(old, np.repeat(-q[None], 5, axis=0))  # scoring -1: below every listed row
            assert far.top_after_append(q[None], k, ids[0], scores[0], before.size) is None
    assert answered >= 10


def test_it_answers_only_on_faiss_one_thread_sequential_scan(one_faiss_thread) -> None:
    rng = np.random.default_rng(9)
    before, after = _grown(_unit(rng, 2_000), _unit(rng, 300))
    q = _unit(rng, 1)
    scores, ids = before.search(q, 100)
    assert after.top_after_append(q, 100, ids[0], scores[0], before.size) is not None
    faiss.omp_set_num_threads(2)  # faiss's BLAS blocks: a score's bits depend on the rows scanned
    assert after.top_after_append(q, 100, ids[0], scores[0], before.size) is None


def test_only_an_exact_index_with_the_old_rows_first_extends_it() -> None:
    rng = np.random.default_rng(2)
    before, after = _grown(_unit(rng, 500), _unit(rng, 10))
    assert after.extends(before) and before.extends(before) and not before.extends(after)
    moved = VectorIndex(after.index, after.ids[::-1].copy(), "exact", after.dim)
    assert not moved.extends(before)
    hnsw = VectorIndex.build(_unit(rng, 600), np.arange(600), exact_max=100)
    assert hnsw.kind == "hnsw" and not hnsw.extends(hnsw)


_RNG = np.random.default_rng(0)
_SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vo", "pel", "zu", "dri", "fan", "gor", "hix", "qua", "sen"]
WORDS = sorted({"".join(_RNG.choice(_SYLLABLES, 3)) for _ in range(80)})
TEXTS = [" ".join(_RNG.choice(WORDS, 3, replace=False)) for _ in range(400)]  # no two scores tied


def _queries() -> list[str]:
    return [*WORDS[:5], f"{WORDS[7]} {WORDS[9]}", WORDS[11][:5]]


def test_search_recall_carries_its_kept_dense_recall_across_appends_not_retexts(
        monkeypatch, one_faiss_thread) -> None:
    recall = SearchRecall.from_texts(TEXTS, np.arange(1, len(TEXTS) + 1, dtype=np.int64), dim=16)
    stats = search_statistics(recall.bm25, *bm25_settings(recall))
    k, queries = 40, _queries()
    search = VectorIndex.search
    full = []
    monkeypatch.setattr(VectorIndex, "search", lambda self, q, k: full.append(k) or search(self, q, k))

    def append(batch: int) -> None:
        more = [f"{t} {t.split()[batch % 3]}" for t in TEXTS[batch::9]]  # a word twice: a vector of its own
        start = int(recall.product_ids.max()) + 1
        append_search(recall, [t.split() for t in more], encode(recall, more),
                      np.arange(start, start + len(more), dtype=np.int64), stats).publish(recall)

    def check(asked: list[str]) -> None:  # each the grown index's own full scan, bit for bit
        full.clear()
        for q in asked:
            scores, ids = search(recall.index, recall.query_vectors([q]), k)
            assert _same(recall.dense(q, k), (ids[0], scores[0])), q
        assert len(full) < len(asked) / 2  # most answered from a carried list and the appended rows

    for q in queries:
        recall.dense(q, k)
    append(0)
    check(queries)  # carried from the bundle's index
    append(1)
    check(queries[:3])
    append(2)
    check(queries[3:])  # not asked since the first append: carried from two indexes back
    assert len(recall._dense_kept[2]) == DENSE_CARRIED
    replace_search(recall, recall.product_ids[:3], [[WORDS[0]]] * 3, [WORDS[0]] * 3, stats).publish(recall)
    assert recall._dense_kept[2] == ()  # a changed text: every kept list may have moved
    full.clear()
    recall.dense(WORDS[0], k)
    assert full == [k]


@pytest.fixture
def two_engines(small_models, one_faiss_thread):
    settings = load_settings(["live.new_products_worker=false"])
    warm, cold = (Engine.load(small_models / "latest", settings) for _ in range(2))
    yield warm, cold
    warm.close()
    cold.close()


def test_pages_after_adds_are_those_of_an_engine_that_kept_nothing(two_engines, monkeypatch) -> None:
    """One engine searched every query before each add (its dense recall kept and carried), the
    other never: after the adds their pages are the same, card for card, explanations included."""
    warm, cold = two_engines
    snap = warm.snapshot
    rng = np.random.default_rng(4)
    c = snap.products.columns
    start = int(snap.products.ids.max()) + 1
    titles = warm.catalog.titles_of(snap.products.ids)
    queries = sorted({w for t in titles[:60] for w in str(t).lower().split() if len(w) > 2})[:25]
    carried = []
    top = VectorIndex.top_after_append
    monkeypatch.setattr(VectorIndex, "top_after_append",
                        lambda self, *a: (lambda got: carried.append(got is not None) or got)(top(self, *a)))

    def page(engine: Engine, query: str) -> str:
        request = RankRequest(surface="search", page_size=20, now_ms=snap.as_of_ms, hour=12,
                              user_id=int(snap.users.ids[3]), query=query, explain=True, seed=3)
        return json.dumps(engine.rank("search", request).cards, sort_keys=True, default=repr)

    for batch in range(3):
        for q in queries:
            page(warm, q)
        rows = []
        for i, row in enumerate(rng.integers(0, len(snap.products.ids), 40).tolist()):
            words = str(titles[row]).split()
            rng.shuffle(words)
            rows.append({"product_id": start + 40 * batch + i, "store_id": int(c["store_id"][row]),
                         "brand_id": int(c["brand_id"][row]), "category_id": int(c["category_id"][row]),
                         "comparable_group_id": 10**12 + i, "title": " ".join(words),
                         "price": float(c["price"][row]), "list_price": float(c["list_price"][row]),
                         "stock": 5, "subsidy": False, "banned": False, "listed_at": int(snap.as_of_ms)})
        assert add_products(warm, rows) == add_products(cold, rows) == 40
    assert len(search_of(warm)._dense_kept[2]) == DENSE_CARRIED and search_of(cold)._dense_kept[2]
    for q in queries:
        assert page(warm, q) == page(cold, q), q
    assert sum(carried) >= len(queries) // 2  # most queries answered from the carried lists


def test_cold_starts_leaf_rates_of_the_grown_table_are_computed_before_the_swap(small_models,
                                                                                monkeypatch) -> None:
    """The first page after an add reads the leaf rates computed before the swap (the same values a
    page computing them gives), not its own (~5 ms); a table they were not computed for computes them."""
    from ranking.cold_start import view
    from ranking.cold_start.posterior import LeafRates

    engine = Engine.load(small_models / "latest", load_settings(["live.new_products_worker=false"]))
    try:
        snap = engine.snapshot
        c = snap.products.columns
        start = int(snap.products.ids.max()) + 1
        rows = [{"product_id": start + i, "store_id": int(c["store_id"][i]),
                 "brand_id": int(c["brand_id"][i]), "category_id": int(c["category_id"][i]),
                 "comparable_group_id": 10**12 + i,
                 "title": f"Quillmarsh {engine.catalog.titles_of(snap.products.ids[[i]])[0]}",
                 "price": float(c["price"][i]), "list_price": float(c["list_price"][i]), "stock": 5,
                 "subsidy": False, "banned": False, "listed_at": int(snap.as_of_ms)} for i in range(6)]
        computed = []
        of_table = LeafRates.of_table
        monkeypatch.setattr(LeafRates, "of_table", classmethod(
            lambda cls, products, s: computed.append(products) or of_table.__func__(cls, products, s)))
        assert add_products(engine, rows) == 6
        leaf = engine.snapshot.products.columns["category_id"]
        grown = [p for p in computed if p.columns["category_id"] is leaf]
        assert len(grown) == 1, "once before the swap, shared by the facts prepared beside them"
        computed.clear()
        strength = engine.settings.cold_start.prior_strength
        got = view.LeafRateCache().of(engine.snapshot, strength)
        assert computed == []  # prepared before the swap
        want = of_table.__func__(LeafRates, engine.snapshot.products, strength)
        assert all(getattr(got, f).tobytes() == getattr(want, f).tobytes()
                   for f in ("leaves", "order_rate", "click_rate"))
        view.LeafRateCache().of(engine.snapshot, strength * 2)  # another strength: computed here
        assert len(computed) == 1
    finally:
        engine.close()


def test_the_first_search_after_an_add_starts_no_build_aside(small_models, one_faiss_thread,
                                                             monkeypatch) -> None:
    """Cold start's facts and the cards' badges of the grown table are built before the swap: the
    first page after it neither starts their builds aside nor computes them (pages: as before)."""
    import threading

    engine = Engine.load(small_models / "latest", load_settings(["live.new_products_worker=false"]))
    try:
        snap = engine.snapshot
        c = snap.products.columns
        start = int(snap.products.ids.max()) + 1
        request = RankRequest(surface="search", page_size=20, now_ms=snap.as_of_ms, hour=12,
                              user_id=int(snap.users.ids[3]), query="quillmarsh", explain=True, seed=3)
        engine.rank("search", request)
        rows = [{"product_id": start + i, "store_id": int(c["store_id"][i]),
                 "brand_id": int(c["brand_id"][i]), "category_id": int(c["category_id"][i]),
                 "comparable_group_id": 10**12 + i, "title": f"Quillmarsh kettle {i}",
                 "price": float(c["price"][i]), "list_price": float(c["list_price"][i]), "stock": 5,
                 "subsidy": False, "banned": False, "listed_at": int(snap.as_of_ms)} for i in range(6)]
        assert add_products(engine, rows) == 6
        started = []
        start_thread = threading.Thread.start
        monkeypatch.setattr(threading.Thread, "start",
                            lambda self: started.append(self.name) or start_thread(self))
        page = engine.rank("search", request)
        assert not [n for n in started if n.startswith("built-aside")], started
        assert {r["product_id"] for r in rows} & {card["product_id"] for card in page.cards}
    finally:
        engine.close()
