"""The placement's keys per candidate (store, leaf, brand, subsidy key, grade) read from one kept
per-product matrix: the same values the per-column reads made, rebuilt when a column is swapped."""

from __future__ import annotations

import numpy as np
from rules_mall import rules_snapshot

from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.columns import product_column
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.selectors.page_keys import (
    BRAND,
    CATEGORY,
    GRADE,
    PRODUCT_KEYS,
    STORE,
    SUBSIDY,
    candidate_keys,
    page_keys,
)
from ranking.pipeline.traffic_grades import candidate_grades


def _snap(n: int = 40):
    snap = rules_snapshot(n=n, stores=7)
    cols = snap.products.columns
    rng = np.random.default_rng(3)
    cols["category_id"] = (10 + np.arange(n) % 5).astype(np.float32)
    cols["brand_id"] = rng.integers(0, 9, n).astype(np.int64)
    subsidy = rng.random(n).astype(np.float32)
    subsidy[::3], subsidy[1::7] = 0.0, np.nan
    cols["subsidy"] = subsidy
    score = (rng.random(n) * 100).astype(np.float32)
    score[::5] = np.nan
    cols["product_score"] = score
    return snap


def _cands(snap) -> CandidateSet:
    ids = snap.products.ids
    return CandidateSet(np.r_[ids[::-1], ids.max() + 1000, ids[3]])  # an unknown product, a repeat


def _per_column(snap, c) -> dict[int, np.ndarray]:
    """What the selectors read column by column before the matrix."""
    col = lambda name, missing: product_column(snap, c, name, missing)  # noqa: E731
    return {STORE: col("store_id", -1).astype(np.int64), CATEGORY: col("category_id", -1).astype(np.int64),
            BRAND: col("brand_id", -1).astype(np.int64), SUBSIDY: np.where(col("subsidy", 0.0) > 0, 0, -1),
            GRADE: candidate_grades(snap, c)}


def test_the_keys_are_the_per_column_reads_unknown_products_and_nan_included():
    snap = _snap()
    c = _cands(snap)
    keys = candidate_keys(snap, c)
    assert keys.dtype == np.int64 and keys.shape == (len(c), 5)
    for k, want in _per_column(snap, c).items():
        np.testing.assert_array_equal(keys[:, k], want)
    assert (keys[-2] == -1).all()  # the unknown product


def test_a_missing_column_reads_as_the_per_column_reads_do():
    snap = _snap()
    for name in ("brand_id", "subsidy", "product_score", "category_id"):
        del snap.products.columns[name]
    c = _cands(snap)
    keys = candidate_keys(snap, c)
    for k, want in _per_column(snap, c).items():
        np.testing.assert_array_equal(keys[:, k], want)


def test_the_matrix_is_kept_and_rebuilt_when_a_column_is_swapped():
    snap = _snap()
    c = _cands(snap)
    cols = snap.products.columns
    sources = (snap.products.ids, cols["store_id"], cols["category_id"], cols["brand_id"], cols["subsidy"],
               cols["product_score"])
    assert PRODUCT_KEYS.of(*sources) is PRODUCT_KEYS.of(*sources)  # kept per version
    before = candidate_keys(snap, c)
    for name in ("brand_id", "store_id", "subsidy", "product_score"):  # the live catalog swaps a column
        swapped = cols[name].copy()
        swapped[:] = swapped[::-1]
        cols[name] = swapped
        keys = candidate_keys(snap, c)
        for k, want in _per_column(snap, c).items():
            np.testing.assert_array_equal(keys[:, k], want)
    assert not np.array_equal(before, candidate_keys(snap, c))


def test_a_page_reads_its_keys_once():
    snap = _snap()
    c = _cands(snap)
    page = PageDraft(np.arange(len(c)), np.zeros(len(c), dtype=np.int64), 10)
    first = page_keys(page, snap, c)
    snap.products.columns["brand_id"] = snap.products.columns["brand_id"] + 1  # a catalog swap mid-page
    assert page_keys(page, snap, c) is first  # the page keeps the view it placed from
    assert page_keys(PageDraft(page.order, page.stores, 10), snap, c)[0, BRAND] == first[0, BRAND] + 1
