"""Exact sort-based forms of ``np.unique`` and ``np.isin`` for integer ids.

numpy 2.3 gave ``np.unique`` a hash table for integers (``sorted=True`` then sorts the
distinct values after it): on numpy 2.4 ``np.unique`` of 2,000 int64 ids took 0.15-0.35 ms
where a sort and a neighbour compare take ~0.015; its ``return_index`` form (a stable argsort,
timsort for int64) cost 0.08-0.14 ms where one plain sort of position-tagged keys takes ~0.035.
Its ``return_inverse``/``return_counts`` forms sort plainly and are not slow: those stay
numpy's. The functions here give the same arrays as numpy's (values, dtypes, order, the first
occurrence of each value, the inverse's shape) for 1-d integer or bool arrays and call numpy's
own otherwise (floats' NaNs, n-d arrays), so they are right on any numpy
(tests/test_sorted_sets.py compares them with numpy's on random inputs).

- :func:`unique_sorted` is ``np.unique`` with ``return_index``/``return_inverse``/``return_counts``.
- :func:`sorted_union` is ``np.unique`` of some arrays joined (``np.union1d`` of two).
- :func:`isin_sorted` is ``np.isin`` by a binary search among the members sorted.
- :func:`common` is ``np.intersect1d(..., return_indices=True)``'s positions for two sorted distinct
  arrays, the shorter searched for in the longer.
"""

from __future__ import annotations

import numpy as np

INTEGER = "iub"  # dtype kinds sorted exactly (no NaN, every value equal to itself)
HASHED = 16  # below this many values numpy's hash table is as fast as the sort (~3 us)
KEYED = 500  # from this many values, first positions by one sort of keys (fewer: numpy's is as fast)
SEARCHED = 1_000  # up to this many values, isin_sorted searches (more: np.isin's table or sort)


def _order(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions of ``flat`` sorted by value, ties by position; those values or their offsets
    from the least, either compared with their neighbours), non-empty ``flat``:
    one plain sort of ``value - min << bits | position`` keys when they fit 63 bits (a stable
    argsort of int64 cost ~3x a plain sort), else the stable argsort."""
    n = len(flat)
    lo, hi = int(flat.min()), int(flat.max())
    bits = n.bit_length()
    if hi - lo >= 1 << (62 - bits):
        order = np.argsort(flat, kind="stable")
        return order, flat[order]
    if flat.dtype == np.uint64:
        offset = (flat - np.uint64(lo)).astype(np.int64)
    else:
        offset = flat.astype(np.int64) - lo
    keys = np.sort(offset << bits | np.arange(n, dtype=np.int64))
    return (keys & ((1 << bits) - 1)).astype(np.intp), keys >> bits


def unique_sorted(values: np.ndarray, return_index: bool = False, return_inverse: bool = False,
                  return_counts: bool = False) -> np.ndarray | tuple[np.ndarray, ...]:
    """``np.unique(values, return_index=, return_inverse=, return_counts=)``: the distinct values
    ascending, then (as asked) each one's first position, each value's place among them and
    each one's count, as numpy returns them. numpy's own when it is as fast: for the inverse or
    the counts alone (its argsort then is a plain one), for first positions of fewer than
    :data:`KEYED` values and for fewer than :data:`HASHED` values."""
    a = np.asarray(values)
    plain = not (return_index or return_inverse or return_counts)
    if (a.dtype.kind not in INTEGER or a.ndim != 1
            or not ((plain and len(a) >= HASHED) or (return_index and len(a) >= max(KEYED, 1)))):
        return np.unique(a, return_index=return_index, return_inverse=return_inverse,
                         return_counts=return_counts)
    if plain:
        ordered = np.sort(a)
        return ordered[_firsts(ordered)]
    order, ordered = _order(a)
    first = _firsts(ordered)
    out = [a[order[first]], order[first]]
    if return_inverse:
        inverse = np.empty(len(a), np.intp)
        inverse[order] = np.cumsum(first, dtype=np.intp) - 1
        out.append(inverse)
    if return_counts:
        out.append(np.diff(np.append(np.flatnonzero(first), len(a))).astype(np.intp, copy=False))
    return tuple(out)


def _firsts(ordered: np.ndarray) -> np.ndarray:
    """Whether each of the sorted ``ordered`` differs from the one before it (the first does)."""
    first = np.empty(len(ordered), bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return first


def sorted_union(arrays: list[np.ndarray]) -> np.ndarray:
    """The distinct values of ``arrays`` ascending: ``np.unique`` of them joined (integer arrays;
    numpy's own for others)."""
    joined = np.concatenate(arrays) if len(arrays) > 1 else np.asarray(arrays[0])
    return unique_sorted(joined.ravel())


def isin_sorted(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``np.isin(values, members)``: each value looked up among the members sorted, about 4x
    cheaper than ``np.isin`` for a few hundred ids (integers; numpy's own for others and for more
    than :data:`SEARCHED` values, where its table or sort over them all is cheaper)."""
    values, members = np.asarray(values), np.asarray(members)
    if (values.dtype.kind not in INTEGER or values.ndim == 0 or values.size > SEARCHED
            or np.result_type(values, members).kind not in INTEGER):
        return np.isin(values, members)
    if not len(members):
        return np.zeros(values.shape, bool)
    ids = np.sort(members.ravel())
    at = np.searchsorted(ids, values)
    at[at == len(ids)] = 0  # past the largest id: compared with the first, never equal
    return ids[at] == values


def common(rows: np.ndarray, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in ``rows``, positions in ``post``) of the values both hold, ascending; both
    sorted and distinct: the shorter searched for in the longer."""
    if not len(rows) or not len(post):
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    if len(post) <= len(rows):
        at = np.searchsorted(rows, post)
        same = rows[np.minimum(at, len(rows) - 1)] == post
        return at[same], np.flatnonzero(same)
    at = np.searchsorted(post, rows)
    same = post[np.minimum(at, len(post) - 1)] == rows
    return np.flatnonzero(same), at[same]
