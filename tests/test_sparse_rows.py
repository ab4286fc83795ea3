"""ranking.features.sparse_rows: the candidates' row dots equal scipy's to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from ranking.features.sparse_rows import row_dots


def _scipy(matrix: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
    dense = np.zeros(matrix.shape[1], dtype=np.float64)
    dense[columns] = values
    return matrix[rows] @ dense


def _matrix(rng: np.random.Generator, shape: tuple[int, int], density: float, sort: bool) -> sp.csr_matrix:
    m = sp.random(*shape, density=density, format="csr", dtype=np.float32, random_state=rng)
    m.data = (m.data * 7).astype(np.float32)  # weights with many significant bits
    if not sort:  # stored order not ascending (a matrix whose rows were edited): kept as stored
        for r in range(m.shape[0]):
            a, b = m.indptr[r], m.indptr[r + 1]
            m.indices[a:b] = m.indices[a:b][::-1].copy()
            m.data[a:b] = m.data[a:b][::-1].copy()
        m.has_sorted_indices = False
    return m


@pytest.mark.parametrize("sort", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_row_dots_equal_scipy_bit_for_bit(seed: int, sort: bool) -> None:
    rng = np.random.default_rng(seed)
    m = _matrix(rng, (300, 120), 0.15, sort)
    rows = rng.integers(0, 300, size=200)  # any order, repeats
    columns = rng.choice(120, size=9, replace=False)  # distinct, unsorted
    values = rng.random(9) * 3
    got, want = row_dots(m, rows, columns, values), _scipy(m, rows, columns, values)
    assert got.dtype == np.float64
    assert np.array_equal(got.view(np.int64), want.view(np.int64))


def test_rows_without_entries_or_hits_are_zero() -> None:
    m = sp.csr_matrix(np.array([[0, 0, 0], [1, 0, 2], [0, 3, 0]], dtype=np.float32))
    got = row_dots(m, np.array([0, 2, 1, 1]), np.array([0, 2]), np.array([1.0, 1.0]))
    assert got.tolist() == [0, 0, 3, 3]
    assert row_dots(m, np.array([0]), np.array([1]), np.array([1.0])).tolist() == [0]  # no entry at all
    assert row_dots(m, np.array([], dtype=np.int64), np.array([1]), np.array([1.0])).tolist() == []
    assert row_dots(m, np.array([1, 2]), np.array([], dtype=np.int64), np.array([])).tolist() == [0, 0]
