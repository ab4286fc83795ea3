"""Dot products of a few rows of a sparse product matrix with one sparse query row.

A search ranks ~500 candidates against one query: ``lexical_score``, ``term_overlap`` and
``char_overlap`` each dot the candidates' rows of a (products x words) CSR matrix with the
query's row. scipy's way (``P[rows] @ dense``) builds a new CSR matrix of those rows and a
dense vector as wide as the vocabulary. :func:`row_dots` gathers the rows' stored column
indices with a few numpy calls instead, keeps the entries in the query's columns (a handful
of a row's dozens) and sums them per row with ``np.bincount``.

Identical results, to the bit: scipy's ``csr_matvec`` sums each row's ``data * x`` in stored
order from 0.0, and the entries outside the query's columns add an exact 0.0; ``np.bincount``
adds its weights one at a time in the order given, which is the same stored order.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def row_dots(matrix: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray,
             values: np.ndarray) -> np.ndarray:
    """``matrix[rows] @ x`` as float64, where ``x`` is ``values`` at ``columns`` (distinct)
    and 0 elsewhere; ``rows`` are row indices (any order, repeats allowed)."""
    rows = np.asarray(rows, dtype=np.int64)
    columns = np.asarray(columns, dtype=np.int64)
    if not len(rows) or not len(columns):
        return np.zeros(len(rows))
    starts = matrix.indptr[rows]
    ends = matrix.indptr[rows + 1]
    lengths = (ends - starts).astype(np.int64)
    bounds = np.cumsum(lengths)
    total = int(bounds[-1])
    # each row's stored entries, rows in the given order, each row's in stored order
    entry = np.arange(total, dtype=np.int64)
    entry += np.repeat(starts - (bounds - lengths), lengths)
    # the query's position of each entry's column (-1: not in the query), by one lookup
    slot = np.full(matrix.shape[1], -1, dtype=np.int32)
    slot[columns] = np.arange(len(columns), dtype=np.int32)
    at = slot[matrix.indices[entry]]
    hits = np.flatnonzero(at >= 0)
    owner = np.searchsorted(bounds, hits, side="right")
    weights = matrix.data[entry[hits]].astype(np.float64) * np.asarray(values, dtype=np.float64)[at[hits]]
    return np.bincount(owner, weights=weights, minlength=len(rows))
