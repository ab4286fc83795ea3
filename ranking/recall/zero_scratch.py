"""Zeroed catalog-long arrays lent per thread: a first-time query's scratch sums without a fresh array.

At 1M products a synonym match's best term scores and its words' own scores were each summed
into a fresh ``np.zeros`` as long as the catalog (4 MB of float32), whose pages the first
writes fault in: ~0.35 ms an array, two to four a query. :class:`ZeroScratch` lends each
thread one such array, all zeros; the borrower writes its sums, reads the rows it needs and sets
back to zero what it wrote (:func:`reset`: at those rows, or the whole array when that is
cheaper) before giving it back, so the next borrower starts from the same zeros a fresh array
holds, and the sums are the same bit for bit. A borrower that fails (an exception) never gives
it back, so a half-written array is never lent again. Nothing of a request is kept: one array a
thread, of zeros, per lender (one per BM25 index's matcher).
"""

from __future__ import annotations

import threading

import numpy as np

# setting rows back to zero one by one costs about this many times a row of a whole-array fill
SCATTER_COST = 8


class ZeroScratch:
    """One zeroed array of ``size`` values of ``dtype`` per thread, lent by :meth:`take` and
    given back by :meth:`give` (zeros again). Pickles as a new, empty lender."""

    def __init__(self, size: int, dtype: np.dtype | type = np.float32) -> None:
        self.size, self.dtype = int(size), np.dtype(dtype)
        self._local = threading.local()

    def take(self) -> np.ndarray:
        """This thread's zeroed array (a new one when it is lent out already or was never given)."""
        lent = getattr(self._local, "array", None)
        self._local.array = None
        return lent if lent is not None else np.zeros(self.size, self.dtype)

    def give(self, array: np.ndarray) -> None:
        """Give back ``array``, which the caller has set back to all zeros."""
        self._local.array = array

    def __getstate__(self) -> dict:
        return {"size": self.size, "dtype": self.dtype.str}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["size"], np.dtype(state["dtype"]))


def reset(array: np.ndarray, written: list[np.ndarray]) -> None:
    """Set ``array`` back to zero where ``written`` (row arrays) wrote: at those rows, or the whole
    array when they are more than 1 / :data:`SCATTER_COST` of it."""
    if SCATTER_COST * sum(len(rows) for rows in written) > len(array):
        array.fill(0)
        return
    for rows in written:
        array[rows] = 0
