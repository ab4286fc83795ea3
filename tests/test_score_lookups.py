"""The scores' id lookup and store category, made fast for daily training snapshots, give what the
binary search and ``Series.mode`` gave (ranking/scores/aggregates.py ``index_of``,
ranking/scores/compute.py ``main_category``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.scores.aggregates import index_of
from ranking.scores.compute import main_category


def _searched(ids: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)


def test_index_of_dense_and_sparse_ids_match_the_binary_search() -> None:
    rng = np.random.default_rng(3)
    dense = np.sort(rng.choice(np.arange(100, 400), 200, replace=False))  # the table path
    # the search path: 200 of the multiples of 997 below 10**12, drawn as positions (the same draw
    # as choosing from np.arange(0, 10**12, 997), without making its 8 GB of ids)
    sparse = np.sort(rng.choice(len(range(0, 10**12, 997)), 200, replace=False) * 997)
    for known in (dense, sparse):
        ids = np.r_[rng.choice(known, 5000), known[0] - 1, known[-1] + 1, -5, known[3] + 1]
        got = index_of(ids, known)
        np.testing.assert_array_equal(got, _searched(ids, known))
        assert (got[:5000] >= 0).all() and got[5000] == -1 and got[5001] == -1
    assert index_of(np.array([1, 2]), np.array([], dtype=np.int64)).tolist() == [-1, -1]
    assert index_of(np.array([7, 8, 9]), np.array([8])).tolist() == [-1, 0, -1]


def test_main_category_is_the_mode_smallest_on_a_tie() -> None:
    store = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, -1])
    category = np.array([5, 3, 5, 9, 4, 7, 7, 2, 2, 1])
    # store 0: 5 twice; store 1: 9 and 4 once each -> 4; store 2: 7 and 2 twice -> 2; store 3: none
    assert main_category(store, category, 4).tolist() == [5, 4, 2, -1]
    rng = np.random.default_rng(5)
    store, category = rng.integers(0, 300, 5000), rng.integers(0, 12, 5000)
    mode = pd.DataFrame({"s": store, "c": category}).groupby("s").c.agg(lambda c: c.mode().iloc[0])
    expected = pd.Series(np.arange(310)).map(mode).fillna(-1).to_numpy(np.int64)
    np.testing.assert_array_equal(main_category(store, category, 310), expected)
