"""A served query's relevance dots kept with its batch (ranking.features.kept_dots): the same bits
as the dots made afresh, refreshed when the catalog text's matrices are swapped."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from threads_at_once import run_at_once

from ranking.features import Requests, build_inputs, feature_names
from ranking.features import kept_dots as kept_module
from ranking.features.inputs import analyse_queries
from ranking.features.kept_dots import KeptDots
from ranking.features.snapshot import CatalogText, FeatureSnapshot
from ranking.features.sparse_rows import row_dots, stores_alike_everywhere
from ranking.settings import Settings
from training.data.mall_data import load_mall
from training.learning.dataset import DAY_MS, mall_day_zero_ms
from training.learning.snapshot_builder import build_snapshot


@pytest.fixture(scope="module")
def snapshot(small_mall: Path) -> FeatureSnapshot:
    mall = load_mall(small_mall)
    return build_snapshot(mall, mall_day_zero_ms(mall, "Asia/Shanghai") + 20 * DAY_MS, Settings())


def _own(snapshot: FeatureSnapshot) -> FeatureSnapshot:
    s = snapshot
    return FeatureSnapshot(s.as_of_ms, s.products, s.stores, s.users, s.leaf_ids, s.leaf_theme_slot,
                           s.user_leaf_slot, s.user_leaf, s.bought, s.bought_leaf, s.store_visits, s.text,
                           s.meta)


def _relevance():
    feature_names()  # the registry loads every module in schema order first
    from ranking.features import relevance_features

    return relevance_features


def _query(snapshot: FeatureSnapshot) -> str:
    return " ".join([w for w in snapshot.text.vocabulary if len(w) >= 2][:3])


def _search(snapshot: FeatureSnapshot, query: str, ids: np.ndarray):
    req = Requests(np.array([-1]), [query], np.array([10]), np.array([0]))
    return build_inputs(snapshot, ids, np.zeros(len(ids), dtype=np.int64), req)


def _afresh(x):
    """The three query features of ``x`` computed on a batch that keeps nothing (as training)."""
    rel = _relevance()
    x.queries = analyse_queries(x.snapshot, x.queries.texts)
    assert x.queries.kept_dots is None
    x.shared.clear()
    return [rel.lexical_score(x), rel.term_overlap(x), rel.char_overlap(x)]


def _features(x):
    rel = _relevance()
    x.shared.clear()
    return [rel.lexical_score(x), rel.term_overlap(x), rel.char_overlap(x)]


def _same_bits(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float64 and np.array_equal(g.view(np.int64), w.view(np.int64))


def test_a_repeated_query_reads_its_kept_dots_to_the_same_bits(snapshot: FeatureSnapshot,
                                                               monkeypatch) -> None:
    rel = _relevance()
    snap = _own(snapshot)
    rng = np.random.default_rng(7)
    query = _query(snap)
    first_ids = rng.choice(snap.products.ids, 300, replace=False)
    x = _search(snap, query, first_ids)
    assert x.queries.kept_dots is not None
    gathers = []
    monkeypatch.setattr(rel, "row_hits", lambda m, rows, cols, inner=rel.row_hits: gathers.append(len(rows))
                        or inner(m, rows, cols))
    got = _features(x)
    assert gathers == [300, 300]  # the token and the bigram gathers, once each
    assert (got[0] > 0).sum() > 10 and (got[2] > 0).sum() > 30
    again = _search(snap, query, first_ids[::-1])
    assert again.queries is x.queries
    _same_bits(_features(again), [g[::-1] for g in got])
    assert gathers == [300, 300]  # all kept
    # a page of other candidates: only the rows not kept yet are gathered, then kept too
    more = np.r_[first_ids[:100], rng.choice(np.setdiff1d(snap.products.ids, first_ids), 50, replace=False)]
    want = _afresh(_search(snap, query, more))
    del gathers[2:]
    _same_bits(_features(_search(snap, query, more)), want)
    assert gathers[2:] == [50, 50]
    _same_bits(_features(_search(snap, query, more)), want)
    assert len(gathers) == 4


def test_the_kept_dots_follow_a_swap_of_the_catalog_text_s_matrices(snapshot: FeatureSnapshot) -> None:
    snap = _own(snapshot)
    ids = np.random.default_rng(8).choice(snap.products.ids, 200, replace=False)
    query = _query(snap)
    x = _search(snap, query, ids)
    before = _features(x)
    text = snap.text  # new titles swap in other matrices: the same rows now hold other words
    order = np.random.default_rng(9).permutation(text.product_tokens.shape[0])
    swapped = CatalogText(text.vocabulary, text.product_tokens[order], text.bigram_vocabulary,
                          text.product_bigrams[order], text.token_leaf, text.brand_names)
    y = _search(snap, query, ids)
    y.queries = x.queries  # the batch kept for the old text, read while the text was swapped
    y.snapshot = _own(snap)
    y.snapshot.text = swapped
    after = _features(y)
    _same_bits(after, _afresh(y))
    assert not all(np.array_equal(a, b) for a, b in zip(after, before, strict=True))
    _same_bits(_features(x), before)  # the old matrices again: made again, the same


def test_a_full_entry_starts_again_and_stays_exact(snapshot: FeatureSnapshot, monkeypatch) -> None:
    monkeypatch.setattr(kept_module, "ROWS_KEPT", 150)
    snap = _own(snapshot)
    rng = np.random.default_rng(10)
    query = _query(snap)
    for n in (100, 120, 140, 100):
        ids = rng.choice(snap.products.ids, n, replace=False)
        x = _search(snap, query, ids)
        _same_bits(_features(x), _afresh(_search(snap, query, ids)))
        assert len(x.queries.kept_dots._entries["tokens"].rows) <= 150


def test_kept_dots_under_threads_and_pickled() -> None:
    rng = np.random.default_rng(11)
    m = sp.random(500, 80, density=0.2, format="csr", dtype=np.float32, random_state=rng)
    cols, vals = np.array([3, 9, 40]), np.array([1.5, 0.25, 3.0])
    kept, bad = KeptDots(), []

    def page(seed: int) -> None:
        r = np.random.default_rng(seed)
        for _ in range(40):
            rows = r.choice(500, 60, replace=False)
            got = kept.dots("m", (m,), rows, lambda rows: [row_dots(m, rows, cols, vals)])[0]
            if not np.array_equal(got, row_dots(m, rows, cols, vals)):
                bad.append(seed)

    run_at_once(page, [(s,) for s in range(6)])
    assert not bad and len(kept._entries["m"].rows) > 400
    assert not kept._entries["m"].values.flags.writeable
    assert pickle.loads(pickle.dumps(kept))._entries == {}  # a cache: shipped empty


def test_a_weight_matrix_stored_otherwise_gets_its_own_gather(snapshot: FeatureSnapshot) -> None:
    text = snapshot.text
    assert stores_alike_everywhere(text.product_tokens, text.product_bm25)
    snap = _own(snapshot)
    ids = np.random.default_rng(12).choice(snap.products.ids, 200, replace=False)
    query = _query(snap)
    edited = text.product_bm25.copy()  # rows stored in reverse order: no longer alike
    for r in range(edited.shape[0]):
        a, b = edited.indptr[r], edited.indptr[r + 1]
        edited.indices[a:b] = edited.indices[a:b][::-1].copy()
        edited.data[a:b] = edited.data[a:b][::-1].copy()
    assert not stores_alike_everywhere(text.product_tokens, edited)
    x = _search(snap, query, ids)
    _features(x)  # the verdict kept for the snapshot's matrices
    x.snapshot.text = CatalogText(text.vocabulary, text.product_tokens, text.bigram_vocabulary,
                                  text.product_bigrams, text.token_leaf, text.brand_names)
    x.snapshot.text.product_bm25 = edited
    lexical = _features(x)[0]
    q = x.queries.tokens
    cols, vals = q.indices[q.indptr[0]:q.indptr[1]], q.data[q.indptr[0]:q.indptr[1]]
    want = row_dots(edited, x.product_row, cols, vals)
    assert (want > 0).any() and np.array_equal(lexical.view(np.int64), want.view(np.int64))


def test_rows_asked_twice_are_kept_once() -> None:
    rng = np.random.default_rng(13)
    m = sp.random(200, 50, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    cols, vals = np.array([1, 4, 30]), np.array([0.5, 2.0, 1.25])
    kept, sorts = KeptDots(), []
    for rows in (np.array([5, 9, 5, 100, 9]), np.array([9, 7, 7, 150, 5, 150]), np.array([150, 7])):
        got = kept.dots("m", (m,), rows, lambda rows: [row_dots(m, rows, cols, vals)])[0]
        assert np.array_equal(got, row_dots(m, rows, cols, vals))
        sorts.append(kept._entries["m"].ordered)
    assert sorts == [False, True, True]  # a first page is kept as it came, ordered when next asked
    assert kept._entries["m"].rows.tolist() == [5, 7, 9, 100, 150]
