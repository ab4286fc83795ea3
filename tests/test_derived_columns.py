"""Product columns derived once per catalog version (ranking/pipeline/derived_columns.py): the same
values as reading each candidate's columns per request, built again when a column is swapped."""

from __future__ import annotations

import numpy as np
from rules_mall import rules_snapshot

from ranking.pipeline.adjusters.theme_boost import THEME_SLOTS
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.columns import product_column
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.pipeline.traffic_grades import candidate_grades, candidate_store_scores, grade_codes


def _per_request(snap, cands):
    """What the adjusters read before the columns were derived once."""
    grades = grade_codes(product_column(snap, cands, "product_score", missing=np.nan))
    store_ids = product_column(snap, cands, "store_id", missing=-1).astype(np.int64)
    scores = snap.stores.take("store_experience_score", snap.stores.rows(store_ids), missing=np.nan)
    leaf = snap.leaf_of_category(product_column(snap, cands, "category_id", missing=-1).astype(np.int64))
    return grades, scores, np.where(leaf >= 0, snap.leaf_theme_slot[np.maximum(leaf, 0)], -1)


def _derived(snap, cands):
    cols = snap.products.columns
    return (candidate_grades(snap, cands), candidate_store_scores(snap, cands),
            THEME_SLOTS.candidates(snap.products, cands, cols["category_id"], snap, snap.leaf_ids,
                                   snap.leaf_theme_slot))


def test_derived_columns_read_as_the_per_request_columns_and_follow_a_swapped_column():
    snap = rules_snapshot()
    rng = np.random.default_rng(2)
    snap.products.columns["product_score"] = rng.uniform(0, 100, 30).astype(np.float32)
    snap.products.columns["product_score"][3] = np.nan
    snap.stores.columns["store_experience_score"] = np.array([85, np.nan, 15], dtype=np.float32)
    cands = CandidateSet(np.array([105, 999_999, 100, 103, 129, 112]))  # one the table does not know
    for got, want in zip(_derived(snap, cands), _per_request(snap, cands), strict=True):
        np.testing.assert_array_equal(got, want)
    # the live catalog swaps a changed column (and the table) whole: the next read follows it
    snap.products.columns["product_score"] = np.full(30, 10.0, np.float32)
    snap.stores.columns["store_experience_score"] = np.array([1, 2, 3], dtype=np.float32)
    cands = CandidateSet(cands.product_ids)
    for got, want in zip(_derived(snap, cands), _per_request(snap, cands), strict=True):
        np.testing.assert_array_equal(got, want)
    assert (candidate_grades(snap, cands)[[0, 2]] == grade_codes(np.array([10.0, 10.0]))).all()


def test_a_derived_column_is_built_once_per_version_of_its_sources():
    built = []
    column = DerivedColumn(lambda a, b: built.append(1) or np.r_[a + b, -1])
    a, b = np.arange(3.0), np.ones(3)
    assert column.of(a, b).tolist() == [1, 2, 3, -1] and column.of(a, b).tolist() == [1, 2, 3, -1]
    assert len(built) == 1
    assert column.of(a.copy(), b).tolist() == [1, 2, 3, -1] and len(built) == 2  # an equal but new array
