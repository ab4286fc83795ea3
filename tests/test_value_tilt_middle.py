"""Value tilt's median of the candidates' log prices: np.median's value to the bit, from one partition."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.pipeline.adjusters.value_tilt import middle


@pytest.mark.parametrize("n", [1, 2, 3, 4, 171, 430, 431, 500])
def test_middle_is_np_median_to_the_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    for values in (np.log(rng.random(n) * 300 + 0.01),  # distinct
                   np.log(rng.integers(1, 6, n).astype(np.float64)),  # ties in the middle
                   rng.normal(size=n) * 1e-300, np.full(n, -4.6051701859880909)):
        got, want = middle(values.copy()), np.median(values)
        assert np.float64(got).view(np.int64) == np.float64(want).view(np.int64)


def test_middle_leaves_its_input_alone() -> None:
    values = np.array([3.0, 1.0, 2.0, 0.5])
    middle(values)
    assert values.tolist() == [3.0, 1.0, 2.0, 0.5]
