"""Rows of ids held in row order, whether or not that order is ascending.

Tables built offline hold their ids ascending (a binary search finds a row); a table that
rows are appended to after load (:mod:`ranking.live.new_products`) keeps every existing
row where it was, so an appended id below the last one leaves the ids unsorted. A
:class:`RowLookup` then searches a sorted copy and maps back to rows: rows never move,
so whatever a reader computed from an older table stays valid in the newer one.

Dense ids (consecutive non-negative integers, as a catalog numbered from a sequence is, like
``EntityTable.rows``' own) find their rows by a subtraction, with no read of the ids: a binary
search of a page's ~200 candidates in the 50,000 ids (400 KB) with the ids out of the cache (as
a first-time search page's dense scan leaves them) cost 34-47 us against the subtraction's
23-28, warm 4.0-4.1 against 3.6-3.9 (``python -m bench.micro_costs``; inside a first-time search
page a helper's scratch reading put the search at 100-130 us of thread CPU).
"""

from __future__ import annotations

import numpy as np


class RowLookup:
    """Id -> row over ``ids`` in row order (-1 for an id not held)."""

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        self.ids = ids
        self.ascending = len(ids) < 2 or bool((ids[1:] > ids[:-1]).all())
        # the first id when the ids are first, first + 1, ..., first + n - 1 with first >= 0, else
        # None: a row is then id - first, and an id whose subtraction wraps (below -2**63 + first)
        # lands at or past n, a miss as it should be
        self._first: int | None = None
        if self.ascending:
            self._sorted, self._rows = ids, None
            if len(ids) and int(ids[0]) >= 0 and int(ids[-1]) - int(ids[0]) == len(ids) - 1:
                self._first = int(ids[0])
        else:
            order = np.argsort(ids, kind="stable")
            self._sorted, self._rows = ids[order], order.astype(np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def held_rows(self, ids: list[int]) -> list[int]:
        """The rows of the held ``ids``, in their order, the ids not held left out: for a few ids
        as Python ints (a live view's ~20 items: dense ids by a subtraction each, about a third of
        :meth:`rows`' numpy calls' time), the same rows :meth:`rows` gives."""
        if self._first is not None:
            first, n = self._first, len(self._sorted)
            return [i - first for i in ids if 0 <= i - first < n]
        rows = self.rows(np.array(ids, dtype=np.int64)) if ids else np.zeros(0, np.int64)
        return rows[rows >= 0].tolist()

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id, -1 where the id is not held."""
        ids = np.asarray(ids, dtype=np.int64)
        n = len(self._sorted)
        if n == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        if self._first is not None:  # dense ids: the row is the id's offset from the first
            pos = ids - self._first
            return np.where((pos >= 0) & (pos < n), pos, -1)
        pos = np.clip(np.searchsorted(self._sorted, ids), 0, n - 1)
        hit = self._sorted[pos] == ids
        rows = pos if self._rows is None else self._rows[pos]
        return np.where(hit, rows, -1).astype(np.int64)
