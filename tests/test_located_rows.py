"""EntityTable.take_located: rows located once, every row known or not (ranking.features.snapshot)."""

from __future__ import annotations

import pickle

import numpy as np

from ranking.features.snapshot import EntityTable, Located, located


def test_take_located_reads_alike_with_every_row_known_or_some_not() -> None:
    table = EntityTable(np.arange(10, 20), {"f": np.linspace(0, 1, 10, dtype=np.float32),
                                            "i": np.arange(10, dtype=np.int64), "d": np.linspace(1, 2, 10)})
    for ids in (np.array([12, 19, 10, 12]), np.array([12, 99, 10, -5])):
        at = located(table.rows(ids))
        assert isinstance(at, Located) and at.all_known == bool((table.rows(ids) >= 0).all())
        for column in ("f", "i", "d"):  # float64 is read without a cast: still a copy
            for missing in (np.nan, -1):
                got = table.take_located(column, at, missing)
                plain = table.take_located(column, tuple(at), missing)  # a plain tuple: masked
                want = np.where(at[1], table.columns[column][at[0]].astype(np.float64), missing)
                assert got.dtype == plain.dtype == np.float64
                assert np.array_equal(got, want, equal_nan=True)
                assert np.array_equal(plain, want, equal_nan=True)
                assert not np.shares_memory(got, table.columns[column])
    at = located(table.rows(np.array([11, 13])))
    safe, known = at  # still the pair every caller unpacks
    again = pickle.loads(pickle.dumps(at))
    assert again.all_known and np.array_equal(again[0], safe) and np.array_equal(again[1], known)


def test_a_taken_set_of_candidates_carries_located_rows_that_know_whether_all_are_known() -> None:
    from ranking.pipeline.candidates import CandidateSet

    table = EntityTable(np.arange(10, 20), {"f": np.linspace(0, 1, 10)})
    for ids, picks in ((np.array([12, 19, 10, 12]), [3, 1]), (np.array([12, 99, 10, -5]), [0, 2]),
                       (np.array([12, 99, 10, -5]), [1, 2])):
        cands = CandidateSet(ids)
        cands.rows_in(table)
        page = cands.take(np.array(picks))
        at = page.rows_in(table)  # taken from the parent's, not looked up again
        want = located(table.rows(ids[picks]))
        assert isinstance(at, Located) and at.all_known == want.all_known
        assert np.array_equal(at[0], want[0]) and np.array_equal(at[1], want[1])
        assert page._rows[0] is table  # the parent's lookup, carried
