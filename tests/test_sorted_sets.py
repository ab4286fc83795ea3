"""ranking.sorted_sets gives numpy's own answers (values, dtypes, order, first positions, the
inverse's shape) for np.unique, np.union1d/np.unique of arrays joined and np.isin."""

from __future__ import annotations

import numpy as np
import pytest

from ranking import sorted_sets
from ranking.sorted_sets import isin_sorted, sorted_union, unique_sorted

DTYPES = [np.int64, np.int32, np.uint32, np.int16, np.uint8, np.uint64, np.int8, np.bool_]
FLAGS = [dict(return_index=i, return_inverse=v, return_counts=c)
         for i in (False, True) for v in (False, True) for c in (False, True)]


def _cases(dtype) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    info = np.iinfo(dtype) if dtype is not np.bool_ else None
    lo, hi = (0, 2) if info is None else (int(info.min), int(info.max))
    out = [np.zeros(0, dtype), np.array([lo], dtype), np.full(50, hi, dtype),
           np.array([hi, lo, hi, lo], dtype)]
    for n in (2, 7, 200, 2_000, 5_000):
        out.append(rng.integers(max(lo, 0), min(hi, 20), n, endpoint=True).astype(dtype))  # many ties
        if info is not None:  # the whole range (the stable argsort) and a narrow one (the keys)
            out.append(rng.integers(lo, hi, n, endpoint=True, dtype=dtype))
            if info.min < 0:
                out.append(rng.integers(-1000, 1000, n).astype(dtype))
    return out


def _same(got, want) -> None:
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize(("keyed", "hashed"), [(500, 16), (0, 0)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("flags", FLAGS)
def test_unique_sorted_is_numpys(dtype, flags, keyed, hashed, monkeypatch) -> None:
    monkeypatch.setattr(sorted_sets, "KEYED", keyed)  # 0: the keyed sort for small arrays too
    monkeypatch.setattr(sorted_sets, "HASHED", hashed)  # 0: the sort for the smallest arrays too
    for a in _cases(dtype):
        _same(unique_sorted(a, **flags), np.unique(a, **flags))


def test_unique_sorted_first_position_of_ties(monkeypatch) -> None:
    monkeypatch.setattr(sorted_sets, "KEYED", 0)
    a = np.array([5, 3, 5, 3, 9, 3], np.int64)
    values, first = unique_sorted(a, return_index=True)
    assert values.tolist() == [3, 5, 9] and first.tolist() == [1, 0, 4]
    wide = np.array([2**62, -(2**62), 2**62, 0, -(2**62)], np.int64)  # too wide for the keys
    values, first = unique_sorted(wide, return_index=True)
    assert values.tolist() == [-(2**62), 0, 2**62] and first.tolist() == [1, 3, 0]


def test_unique_sorted_others_are_numpys() -> None:
    floats = np.array([np.nan, 1.0, np.nan, -0.0, 0.0])
    _same(unique_sorted(floats, return_inverse=True), np.unique(floats, return_inverse=True))
    grid = np.array([[3, 1], [1, 3]], np.int64)
    _same(unique_sorted(grid, return_inverse=True), np.unique(grid, return_inverse=True))
    _same(unique_sorted([4, 2, 4]), np.unique([4, 2, 4]))


def test_sorted_union_is_numpys() -> None:
    rng = np.random.default_rng(3)
    for parts in ([np.zeros(0, np.int64)], [np.array([3, 1, 3], np.int32)],
                  [rng.integers(0, 500, n) for n in (0, 1, 300, 2_000)],
                  [rng.integers(-5, 5, 30).astype(np.int32), rng.integers(0, 2**40, 30)]):
        _same(sorted_union(parts), np.unique(np.concatenate(parts)))
    a, b = rng.integers(0, 99, 40).astype(np.uint32), rng.integers(0, 99, 9).astype(np.uint32)
    _same(sorted_union([a, b]), np.union1d(a, b))
    floats = [np.array([np.nan, 2.0]), np.array([np.nan])]
    _same(sorted_union(floats), np.unique(np.concatenate(floats)))


@pytest.mark.parametrize("searched", [1_000, 10**9])
def test_isin_sorted_is_numpys(searched, monkeypatch) -> None:
    monkeypatch.setattr(sorted_sets, "SEARCHED", searched)  # 10**9: the search for 50,000 values too
    rng = np.random.default_rng(5)
    for dtype in DTYPES[:-1]:
        for n, m in ((0, 3), (5, 0), (200, 40), (2_000, 300), (50_000, 3)):
            info = np.iinfo(dtype)
            values = rng.integers(info.min, info.max, n, endpoint=True, dtype=dtype)
            members = np.concatenate([rng.choice(values, min(m, n)) if n else values[:0],
                                      rng.integers(info.min, info.max, m, endpoint=True, dtype=dtype)])
            _same(isin_sorted(values, members), np.isin(values, members))
            _same(isin_sorted(values, members.astype(np.int64) if dtype != np.uint64 else members),
                  np.isin(values, members))
    grid, mixed = np.array([[1, 2], [3, 4]], np.int64), np.array([2, 2**63], np.uint64)
    _same(isin_sorted(grid, [4, 1]), np.isin(grid, [4, 1]))
    _same(isin_sorted(grid, mixed), np.isin(grid, mixed))
    floats = np.array([1.0, np.nan])
    _same(isin_sorted(floats, [np.nan, 1.0]), np.isin(floats, [np.nan, 1.0]))
    _same(isin_sorted(np.int64(3), [3]), np.isin(np.int64(3), [3]))
