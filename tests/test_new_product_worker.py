"""New products' words and vectors built in a worker process (ranking.live.new_product_worker):
bit for bit an in-process add, and an add that never loses its batch when the worker fails."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import scipy.sparse as sp

from ranking.engine import Engine
from ranking.live.new_product_text import BatchTokens, token_rows
from ranking.live.new_product_worker import MAX_STARTS
from ranking.live.new_products import (
    add_products,
    frozen_state,
    homepage_of,
    prepare,
    search_of,
    start_worker,
)
from ranking.pipeline import RankRequest
from ranking.settings import load_settings

ONE = "live.new_products_worker_min_batch=1"  # the tests' batches are small: every one to the worker
WORDS = ["Quillmarsh", "Tessaford", "Brindlevale", "Orrenwick", "Calloway", "Pimbleton"]


@pytest.fixture
def engines(small_models):
    """The small bundle twice: adds through the worker process, and in process."""
    worker = Engine.load(small_models / "latest", load_settings([ONE]))
    local = Engine.load(small_models / "latest", load_settings(["live.new_products_worker=false"]))
    yield worker, local
    worker.close()
    local.close()


@pytest.fixture
def engine(small_models):
    eng = Engine.load(small_models / "latest", load_settings([ONE]))
    yield eng
    eng.close()


def _rows(engine: Engine, n: int, start: int, seed: int) -> list[dict]:
    """``n`` listings like random products of the bundle, titles with new words and catalog words."""
    rng = np.random.default_rng(seed)
    snap, c = engine.snapshot, engine.snapshot.products.columns
    out = []
    for i, row in enumerate(rng.integers(0, len(snap.products.ids), n).tolist()):
        title = str(engine.catalog.titles_of(snap.products.ids[[row]])[0]).split()
        rng.shuffle(title)
        out.append({"product_id": start + i, "store_id": int(c["store_id"][row]),
                    "brand_id": int(c["brand_id"][row]), "category_id": int(c["category_id"][row]),
                    "comparable_group_id": 10**12 + i // 2,
                    "title": f"{WORDS[i % len(WORDS)]} {' '.join(title)} X{100 + i}",
                    "price": float(c["price"][row]), "list_price": float(c["list_price"][row]),
                    "stock": int(rng.integers(0, 50)), "subsidy": bool(i % 4 == 0), "banned": False,
                    "listed_at": int(snap.as_of_ms)})
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same_sparse(a: sp.spmatrix, b: sp.spmatrix) -> bool:
    return type(a) is type(b) and a.shape == b.shape and all(
        _same(getattr(a, k), getattr(b, k)) for k in ("data", "indices", "indptr"))


def _process(engine: Engine):
    pool = frozen_state(engine).worker._pool
    return next(iter(pool._processes.values())) if pool is not None and pool._processes else None


def _per_token_rows(docs, index, words, binary):
    """The per-token loop :func:`token_rows` replaced."""
    rows, cols, vals = [], [], []
    for i, doc in enumerate(docs):
        counts: dict[int, int] = {}
        for token in doc:
            j = index.get(token)
            if j is None:
                j = index[token] = len(words)
                words.append(token)
            counts[j] = counts.get(j, 0) + 1
        rows += [i] * len(counts)
        cols += list(counts)
        vals += [1] * len(counts) if binary else list(counts.values())
    coords = (np.asarray(rows, np.int64), np.asarray(cols, np.int64))
    return sp.csr_matrix((np.asarray(vals, np.float32), coords), shape=(len(docs), len(words)))


@pytest.mark.parametrize("binary", [True, False])
def test_token_rows_are_what_the_per_token_loop_made(binary):
    rng = np.random.default_rng(3)
    pool = [f"w{i}" for i in range(40)]
    docs = [[pool[j] for j in rng.integers(0, 40, rng.integers(0, 12))] for _ in range(30)] + [[]]
    known = pool[::3]
    index, words = {w: i for i, w in enumerate(known)}, list(known)
    expected = _per_token_rows(docs, dict(index), list(words), binary)
    expected_words = list(words)
    _per_token_rows(docs, {w: i for i, w in enumerate(expected_words)}, expected_words, binary)
    got = token_rows(BatchTokens.of(docs), index, words, binary)
    assert words == expected_words and index == {w: i for i, w in enumerate(words)}
    assert _same_sparse(got, expected)
    empty = token_rows(BatchTokens.of([]), {"a": 0}, ["a"], binary)
    assert empty.shape == (0, 1) and empty.nnz == 0


def test_an_add_through_the_worker_is_bit_for_bit_an_in_process_add(engines):
    worker, local = engines
    start = int(worker.snapshot.products.ids.max()) + 1
    rows = _rows(worker, 90, start, seed=5)
    for i in range(0, len(rows), 30):  # three batches: the later ones find the earlier ones' new words
        assert add_products(worker, rows[i:i + 30]) == add_products(local, rows[i:i + 30]) == 30
    assert frozen_state(worker).worker.batches == 3 and frozen_state(worker).worker.fallbacks == 0
    assert frozen_state(local).worker is None
    a, b = worker.snapshot, local.snapshot
    assert _same(a.products.ids, b.products.ids) and a.products.columns.keys() == b.products.columns.keys()
    for name in a.products.columns:
        assert _same(a.products.columns[name], b.products.columns[name]), name
    assert a.text.vocabulary == b.text.vocabulary and a.text.bigram_vocabulary == b.text.bigram_vocabulary
    for name in ("product_tokens", "product_bigrams", "product_bm25"):
        assert _same_sparse(getattr(a.text, name), getattr(b.text, name)), name
    assert _same(a.text.token_leaf, b.text.token_leaf)
    sa, sb = search_of(worker), search_of(local)
    assert sa.bm25.vocabulary == sb.bm25.vocabulary and _same(sa.product_ids, sb.product_ids)
    assert _same_sparse(sa.bm25.weights, sb.bm25.weights)
    assert _same(sa.vectors, sb.vectors)
    stored = [s.index.index.reconstruct_n(0, s.index.size) for s in (sa, sb)]
    assert _same(*stored)
    assert _same(sa.index.ids, sb.index.ids)
    assert sa.speller.words == sb.speller.words and _same(sa.speller._keys, sb.speller._keys)
    assert "quillmarsh" in sa.speller.words  # a new word of 15 products: a spelling target
    assert sa.correct("quilmarsh").text == sb.correct("quilmarsh").text == "quillmarsh"
    ha, hb = homepage_of(worker).a, homepage_of(local).a
    assert ha.keys() == hb.keys() and all(_same(ha[k], hb[k]) for k in ha)
    snap = worker.snapshot
    for query in [w.lower() for w in WORDS] + [rows[7]["title"], "x105"]:
        request = RankRequest(surface="search", page_size=20, now_ms=snap.as_of_ms, hour=12,
                              user_id=int(snap.users.ids[2]), query=query, explain=True, seed=3)
        pages = [e.rank("search", request) for e in (worker, local)]
        ids = [[c["product_id"] for c in p.cards] for p in pages]
        assert ids[0] == ids[1] and ids[0], query
        assert [c["score"] for c in pages[0].cards] == [c["score"] for c in pages[1].cards], query
        whole = [json.dumps(p.cards, sort_keys=True, default=repr) for p in pages]  # explanations too
        assert whole[0] == whole[1] and "explanation" in whole[0], query
    assert any(r["product_id"] in ids[0] for r in rows)  # the new products are found


def test_a_worker_that_cannot_start_falls_back_in_process_and_says_so(engine, tmp_path, caplog):
    state = frozen_state(engine)
    with state.lock:
        prepare(engine, state)
        start_worker(engine, state)
    state.worker._args = (str(tmp_path), *state.worker._args[1:])  # no encoder there: its start fails
    start = int(engine.snapshot.products.ids.max()) + 1
    rows = _rows(engine, 4 * (MAX_STARTS + 1), start, seed=7)
    with caplog.at_level(logging.WARNING, logger="shelfrank.catalog"):
        for i in range(MAX_STARTS + 1):
            assert add_products(engine, rows[4 * i:4 * i + 4]) == 4  # never lost
    assert state.worker.starts == MAX_STARTS and state.worker.fallbacks == MAX_STARTS + 1
    assert state.worker.batches == 0
    said = [r.getMessage() for r in caplog.records if "could not build a batch" in r.getMessage()]
    assert len(said) == MAX_STARTS and "every batch after it" in said[-1]
    found = search_of(engine).lexical(WORDS[1].lower(), 50)[0]
    assert set(found.tolist()) >= {r["product_id"] for r in rows if r["title"].startswith(WORDS[1])}


def test_a_worker_that_dies_is_replaced_and_its_batch_built_in_process(engine, caplog):
    start = int(engine.snapshot.products.ids.max()) + 1
    rows = _rows(engine, 30, start, seed=9)
    assert add_products(engine, rows[:10]) == 10
    state = frozen_state(engine)
    process = _process(engine)
    assert state.worker.batches == 1 and process is not None and process.is_alive()
    process.kill()
    process.join(10)
    with caplog.at_level(logging.WARNING, logger="shelfrank.catalog"):
        assert add_products(engine, rows[10:20]) == 10  # built in process
    assert state.worker.fallbacks == 1
    assert any("building it in process" in r.getMessage() for r in caplog.records)
    assert add_products(engine, rows[20:]) == 10  # a new process
    assert state.worker.starts == 2 and state.worker.batches == 2
    assert (engine.snapshot.products.rows(np.array([r["product_id"] for r in rows])) >= 0).all()


def test_a_worker_that_does_not_answer_in_time_is_stopped(small_models, caplog):
    settings = load_settings([ONE, "live.new_products_worker_timeout_seconds=0.001"])
    eng = Engine.load(small_models / "latest", settings)
    try:
        rows = _rows(eng, 5, int(eng.snapshot.products.ids.max()) + 1, seed=11)
        with caplog.at_level(logging.WARNING, logger="shelfrank.catalog"):
            assert add_products(eng, rows) == 5
        assert any("TimeoutError" in r.getMessage() for r in caplog.records)
        state = frozen_state(eng)
        assert state.worker.fallbacks == 1 and state.worker._pool is None  # stopped; next batch starts anew
    finally:
        eng.close()


def test_closing_the_engine_stops_the_worker_process(small_models):
    engine = Engine.load(small_models / "latest", load_settings([ONE, "live.new_products_worker_nice=5"]))
    rows = _rows(engine, 10, int(engine.snapshot.products.ids.max()) + 1, seed=13)
    assert add_products(engine, rows[:5]) == 5
    process = _process(engine)
    assert process is not None and process.is_alive()
    nice = engine.settings.live.new_products_worker_nice  # below the request threads
    assert os.getpriority(os.PRIO_PROCESS, process.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice)
    engine.close()
    process.join(20)
    assert not process.is_alive()
    assert add_products(engine, rows[5:]) == 5  # in process from now on, no new process
    assert frozen_state(engine).worker.starts == 1 and frozen_state(engine).worker._pool is None


def test_an_add_hands_the_pages_the_tables_built_for_the_grown_product_table(engine):
    from ranking.features.per_product import CACHE_KEY, _appended_rows, build_product_feature_table

    before = engine.snapshot.products
    rows = _rows(engine, 12, int(before.ids.max()) + 1, seed=17)
    assert add_products(engine, rows) == 12
    snap = engine.snapshot
    table = snap.derived.get(CACHE_KEY)  # prepared before the swap, installed with it: no build aside
    assert table is not None and table.products is snap.products
    fresh = build_product_feature_table(snap, table.names)
    assert _same(table.matrix, fresh.matrix) and _same(table.store_row, fresh.store_row)
    assert _same(table.leaf, fresh.leaf)
    appended = _appended_rows(before, snap.products).tolist()
    assert appended == list(range(len(before.ids), len(snap.products.ids)))
    changed = snap.products.columns["price"].copy()
    changed[0] += 1  # an old row that differs: not an append
    other = type(snap.products)(snap.products.ids, {**snap.products.columns, "price": changed})
    assert _appended_rows(before, other) is None and _appended_rows(before, before) is None


def test_a_batch_below_the_minimum_is_built_in_process_and_starts_no_worker(small_models):
    eng = Engine.load(small_models / "latest", load_settings(["live.new_products_worker_min_batch=8"]))
    try:
        rows = _rows(eng, 15, int(eng.snapshot.products.ids.max()) + 1, seed=19)
        assert add_products(eng, rows[:7]) == 7  # an operator's few upserts: no process started
        assert frozen_state(eng).worker is None
        assert add_products(eng, rows[7:]) == 8  # a bulk batch: the worker builds it
        state = frozen_state(eng)
        assert state.worker.starts == 1 and state.worker.batches == 1 and state.worker.fallbacks == 0
    finally:
        eng.close()
