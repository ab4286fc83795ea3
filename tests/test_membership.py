"""isin_few answers what np.isin answers, for few members and many."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.membership import COMPARED, FEW, SEARCHED, isin_few


@pytest.mark.parametrize("n_members", [0, 1, COMPARED, COMPARED + 1, FEW, FEW + 1, 300])
@pytest.mark.parametrize("n_values", [0, 20, SEARCHED, 500])
def test_isin_few_is_np_isin(n_members, n_values):
    rng = np.random.default_rng(n_members)
    for dtype in (np.int64, np.int32, np.uint32, np.float64):
        for hi in (10, 2_000_000):
            values = rng.integers(0 if dtype == np.uint32 else -1, hi, n_values).astype(dtype)
            members = rng.integers(-1, hi, n_members).astype(np.int64)
            got = isin_few(values, members)
            assert got.dtype == bool and np.array_equal(got, np.isin(values, members))
            half = (members + 0.5).astype(np.float64)  # members not whole: never equal to a whole value
            assert np.array_equal(isin_few(values, half), np.isin(values, half))
    assert isin_few(np.zeros(0, np.int64), np.arange(3)).shape == (0,)
    assert isin_few(np.arange(5), np.array([1, 3])).tolist() == [False, True, False, True, False]
