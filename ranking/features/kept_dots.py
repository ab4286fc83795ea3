"""A served query's dots with product rows, kept across the searches that ask the query again.

A served search's query is analysed once per catalog text and kept with its batch
(:func:`ranking.features.inputs.query_batch`). Its relevance dots (the BM25 and token dots, the
character bigram dot: :mod:`ranking.features.relevance_features`) depend only on the query, the
product row and the matrix. The mall's head queries repeat, and so do most of their candidates
(search keeps each query's recall), so :class:`KeptDots`, held by the kept batch, keeps per named
set of matrices the rows already dotted (sorted) and their values: a repeated query's candidates
are found by one binary search instead of a gather of their rows; rows not held yet are dotted as
before (by the caller's ``compute``, the same code) and added, up to ``ROWS_KEPT`` rows per set.
A row's dot does not depend on the other rows dotted with it, so the values are the same bits.

Validity: the catalog text's matrices are never changed in place (new products or titles swap in
new matrix objects: ranking.live), so an entry made for other matrix objects is dropped and made
again. Each entry is read-only and replaced whole (one dict store): request threads read it
without a lock; two threads adding at once both compute, and the later entry stays (same values).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ranking.bounded_memo import read_only

# rows kept per query and set of matrices (a search hydrates ~200-600 candidates): past it the
# entry starts again from the request's rows. At most ~50 KB a query (rows and two dots)
ROWS_KEPT = 2048


@dataclass(frozen=True)
class _Entry:
    matrices: tuple  # the matrices the dots are of (by identity)
    rows: np.ndarray  # product rows (int64): distinct and ascending when ``ordered``
    values: np.ndarray  # (len(matrices), len(rows)) float64: each matrix's dots
    ordered: bool = True  # False: a query's first page as it came, ordered when next asked


class KeptDots:
    """One query's dots per named set of matrices, as :func:`dots` returns them."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def dots(self, name: str, matrices: tuple, rows: np.ndarray,
             compute: Callable[[np.ndarray], list[np.ndarray]]) -> list[np.ndarray]:
        """Each of ``matrices``' dots (float64) at ``rows``: the kept values, and ``compute(rows)``'s
        (one array per matrix) for the rows not kept yet, which are then kept."""
        rows = np.asarray(rows, dtype=np.int64)
        entry = self._entries.get(name)
        if entry is None or len(entry.matrices) != len(matrices) or any(
                a is not b for a, b in zip(entry.matrices, matrices, strict=True)):
            values = compute(rows)  # the query's first page (of these matrices): as if not kept,
            # kept as it came (ordered by the next page that asks: a query asked once pays no sort)
            self._entries[name] = _Entry(tuple(matrices), *read_only(
                (rows.copy(), np.array(values, dtype=np.float64))), ordered=False)
            return values
        if not entry.ordered:
            entry = self._entries[name] = _entry(matrices, entry.rows, entry.values)
        pos, found = _find(entry.rows, rows)
        values = entry.values[:, pos]  # a copy: the entry stays as it is
        if found.all():
            return list(values)
        missing = ~found
        values[:, missing] = compute(rows[missing])
        if len(entry.rows) + int(missing.sum()) > ROWS_KEPT:  # full: start again from this page
            self._entries[name] = _entry(matrices, rows, values)
        else:
            self._entries[name] = _entry(matrices, np.concatenate([entry.rows, rows[missing]]),
                                         np.concatenate([entry.values, values[:, missing]], axis=1))
        return list(values)

    def __getstate__(self) -> dict:
        """Pickled empty: the entries are a cache and hold the catalog's matrices."""
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()


def _find(kept: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each row's position in ``kept``, clipped; whether it is there)."""
    if not len(kept):
        return np.zeros(len(rows), dtype=np.int64), np.zeros(len(rows), dtype=bool)
    pos = np.minimum(np.searchsorted(kept, rows), len(kept) - 1)
    return pos, kept[pos] == rows


def _entry(matrices: tuple, rows: np.ndarray, values: np.ndarray) -> _Entry:
    """The entry of ``rows`` (any order, repeats allowed) and their ``values`` (one row per matrix),
    rows made distinct and ascending."""
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    later = rows[1:] == rows[:-1]  # a repeat of the row before it
    if later.any():
        first = np.ones(len(rows), dtype=bool)
        first[1:] = ~later
        order, rows = order[first], rows[first]
    return _Entry(tuple(matrices), *read_only((rows, values[:, order])))
