"""Rows of ids held in row order, whether or not that order is ascending.

Tables built offline hold their ids ascending (a binary search finds a row); a table that
rows are appended to after load (:mod:`ranking.live.new_products`) keeps every existing
row where it was, so an appended id below the last one leaves the ids unsorted. A
:class:`RowLookup` then searches a sorted copy and maps back to rows: rows never move,
so whatever a reader computed from an older table stays valid in the newer one.
"""

from __future__ import annotations

import numpy as np


class RowLookup:
    """Id -> row over ``ids`` in row order (-1 for an id not held)."""

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        self.ids = ids
        self.ascending = len(ids) < 2 or bool((ids[1:] > ids[:-1]).all())
        if self.ascending:
            self._sorted, self._rows = ids, None
        else:
            order = np.argsort(ids, kind="stable")
            self._sorted, self._rows = ids[order], order.astype(np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id, -1 where the id is not held."""
        ids = np.asarray(ids, dtype=np.int64)
        n = len(self._sorted)
        if n == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self._sorted, ids), 0, n - 1)
        hit = self._sorted[pos] == ids
        rows = pos if self._rows is None else self._rows[pos]
        return np.where(hit, rows, -1).astype(np.int64)
