"""``stable_top`` gives the first places of numpy's stable argsort."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.stable_top import stable_top


@pytest.mark.parametrize("whole_up_to", [0, 2_048])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_the_first_places_are_the_stable_sorts(dtype, whole_up_to, monkeypatch):
    from ranking import stable_top as module

    monkeypatch.setattr(module, "WHOLE_SORT_MAX", whole_up_to)  # 0: the partition at every size
    rng = np.random.default_rng(5)
    for _ in range(2000):
        n = int(rng.integers(0, 80))
        values = rng.integers(0, int(rng.integers(1, 12)), n).astype(dtype)  # many ties
        if dtype != np.int64 and n and rng.random() < 0.3:
            values[rng.integers(0, n, int(rng.integers(1, n + 1)))] = np.nan
        if dtype != np.int64 and rng.random() < 0.3:
            values = values * rng.random(n).astype(dtype)  # distinct values
        k = int(rng.integers(-1, n + 3))
        got = stable_top(values, k)
        want = np.argsort(values, kind="stable")[:max(k, 0)]
        assert got.tolist() == want.tolist(), (values, k)
