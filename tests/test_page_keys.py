"""The placement's keys per candidate (store, leaf, brand) read from one kept per-product matrix:
the same values the per-column reads made, rebuilt when a column is swapped."""

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
    candidate_keys,
    page_keys,
)
from ranking.pipeline.traffic_grades import candidate_grades, grade_codes

NAMES = {STORE: "store_id", CATEGORY: "category_id", BRAND: "brand_id", GRADE: "product_score"}


def _snap(n: int = 40):
    snap = rules_snapshot(n=n, stores=7)
    cols = snap.products.columns
    cols["category_id"] = (10 + np.arange(n) % 5).astype(np.float32)
    cols["brand_id"] = np.random.default_rng(3).integers(0, 9, n).astype(np.int64)
    cols["product_score"] = np.random.default_rng(4).uniform(0, 100, n).astype(np.float32)
    cols["product_score"][2] = np.nan  # no grade
    return snap


def _cands(snap) -> CandidateSet:
    ids = snap.products.ids
    return CandidateSet(np.r_[ids[::-1], ids.max() + 1000, ids[3]])  # an unknown product, a repeat


def _per_column(snap, c) -> dict[int, np.ndarray]:
    """What the selectors read column by column before the matrix (the grade: the fold floor's
    ``candidate_grades``, as grade_codes of the per-column read)."""
    read = {k: product_column(snap, c, name, missing=-1).astype(np.int64) for k, name in NAMES.items()
            if k != GRADE}
    grades = grade_codes(product_column(snap, c, "product_score", missing=np.nan))
    if "product_score" in snap.products.columns:
        np.testing.assert_array_equal(candidate_grades(snap, c), grades)
    return {**read, GRADE: grades}


def test_the_keys_are_the_per_column_reads_unknown_products_included():
    snap = _snap()
    c = _cands(snap)
    keys = candidate_keys(snap, c)
    assert keys.dtype == np.int8 and keys.shape == (len(c), 4)  # the narrowest type holding them
    for k, want in _per_column(snap, c).items():
        np.testing.assert_array_equal(keys[:, k], want)
    assert (keys[-2] == -1).all()  # the unknown product
    assert set(keys[:, GRADE].tolist()) == {-1, 0, 1, 2, 3}  # every grade and none


def test_the_matrix_is_as_wide_as_its_largest_key_needs():
    for big, dtype in ((127, np.int8), (128, np.int16), (40_000, np.int32), (2**31, np.int64),
                       (2**40 + 1, np.int64)):
        snap = _snap()
        brand = snap.products.columns["brand_id"].copy()
        brand[5] = big
        snap.products.columns["brand_id"] = brand
        c = _cands(snap)
        keys = candidate_keys(snap, c)
        assert keys.dtype == dtype, big
        for k, want in _per_column(snap, c).items():
            np.testing.assert_array_equal(keys[:, k], want)
        assert big in keys[:, BRAND].tolist()


def test_a_missing_column_reads_as_the_per_column_reads_do():
    snap = _snap()
    for name in ("brand_id", "category_id", "product_score"):
        del snap.products.columns[name]
    c = _cands(snap)
    keys = candidate_keys(snap, c)
    for k, want in _per_column(snap, c).items():
        np.testing.assert_array_equal(keys[:, k], want)
    assert (keys[:, BRAND] == -1).all() and (keys[:, GRADE] == -1).all()


def test_the_matrix_is_kept_and_rebuilt_when_a_column_is_swapped():
    snap = _snap()
    c = _cands(snap)
    cols = snap.products.columns
    sources = (snap.products.ids, cols["store_id"], cols["category_id"], cols["brand_id"],
               cols["product_score"])
    assert PRODUCT_KEYS.of(*sources) is PRODUCT_KEYS.of(*sources)  # kept per version
    for name in NAMES.values():  # a new version of each column, swapped in as the live catalog does
        before = candidate_keys(snap, c)
        cols[name] = cols[name] + (1 if name != "product_score" else 25)
        keys = candidate_keys(snap, c)
        assert not np.array_equal(keys, before)
        for k, want in _per_column(snap, c).items():
            np.testing.assert_array_equal(keys[:, k], want)


def test_a_page_reads_its_keys_once():
    snap = _snap()
    c = _cands(snap)
    page = PageDraft(np.arange(len(c)), np.zeros(len(c), dtype=np.int64), 10)
    first = page_keys(page, snap, c)
    snap.products.columns["brand_id"] = snap.products.columns["brand_id"] + 1  # a catalog swap mid-page
    assert page_keys(page, snap, c) is first  # the page keeps the view it placed from
    assert page_keys(PageDraft(page.order, page.stores, 10), snap, c)[0, BRAND] == first[0, BRAND] + 1


def test_the_key_matrix_reads_no_column_the_live_catalog_overlays():
    """An overlaid column is copied on every live change, and the whole matrix would then be
    rebuilt on a request thread (~150 ms at 1M products): its columns are the listing's only."""
    from ranking.catalog_changes import OVERLAID
    from ranking.pipeline.selectors.page_keys import LISTING_COLUMNS

    assert not set(LISTING_COLUMNS) & set(OVERLAID)
