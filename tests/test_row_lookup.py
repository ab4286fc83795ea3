"""RowLookup: dense ids find their rows by a subtraction, any other ids by a binary search, the
same rows either way."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.row_lookup import RowLookup

LOW, HIGH = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
EDGES = [LOW, LOW + 5, -(2**62), -1, 0, 1, 2**62, HIGH]


def _reference(held: np.ndarray, asked: np.ndarray) -> list[int]:
    row = {int(i): r for r, i in enumerate(held)}
    return [row.get(int(i), -1) for i in asked]


def _asked(held: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    near = rng.integers(max(int(held.min()) - 3, LOW), min(int(held.max()) + 3, HIGH), size=200,
                        endpoint=True)
    return np.concatenate([near, held[::7], np.array(EDGES, dtype=np.int64)])


@pytest.mark.parametrize("first", [0, 7, 2**40])
def test_dense_ids_take_the_subtraction_and_find_the_rows_a_search_finds(first):
    held = np.arange(first, first + 1000, dtype=np.int64)
    lookup = RowLookup(held)
    assert lookup._first == first  # the subtraction, not the binary search
    asked = _asked(held, np.random.default_rng(first % 97))
    got = lookup.rows(asked)
    assert got.dtype == np.int64 and got.tolist() == _reference(held, asked)
    assert lookup.rows(asked[:200].reshape(4, 50)).tolist() == got[:200].reshape(4, 50).tolist()


@pytest.mark.parametrize("held", [
    np.array([0, 1, 2, 4, 5]),  # a gap
    np.array([10, 20, 30, 15]),  # appended below the last (unsorted)
    np.arange(-3, 10),  # consecutive but from a negative id: id - first could wrap
    np.array([np.iinfo(np.int64).max - 1, np.iinfo(np.int64).max]),
])
def test_other_ids_take_the_binary_search(held):
    held = np.asarray(held, dtype=np.int64)
    lookup = RowLookup(held)
    asked = _asked(held, np.random.default_rng(len(held)))
    if not (held[0] >= 0 and held[-1] - held[0] == len(held) - 1 and lookup.ascending):
        assert lookup._first is None
    assert lookup.rows(asked).tolist() == _reference(held, asked)


def test_an_empty_lookup_finds_nothing():
    assert RowLookup(np.zeros(0, np.int64)).rows(np.array([0, 1])).tolist() == [-1, -1]


@pytest.mark.parametrize("held", [np.arange(7, 1007, dtype=np.int64),
                                  np.arange(2**40, 2**40 + 500, dtype=np.int64),
                                  np.array([5, 3, 90, -4, 2**62, 11], dtype=np.int64),
                                  np.array([-3, 8, 40, 41, 900], dtype=np.int64), np.zeros(0, np.int64)])
def test_the_held_rows_of_a_few_ids_are_the_rows_without_the_misses(held):
    lookup = RowLookup(held)
    rng = np.random.default_rng(3)
    for _ in range(50):
        pool = _asked(held, rng) if len(held) else np.array(EDGES, np.int64)
        asked = pool[rng.integers(0, len(pool), 25)]
        want = [r for r in _reference(held, asked) if r >= 0]
        assert lookup.held_rows(asked.tolist()) == want
    assert lookup.held_rows([]) == []
