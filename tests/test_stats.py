"""The one stats module: each interval covers what it should, and every normal interval uses
the exact 97.5% normal quantile."""

from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats

from training.stats import (
    Z95,
    bootstrap_indices,
    bootstrap_lift,
    bootstrap_mean,
    log_ratio_ci95,
    mean_se,
    normal_ci95,
    paired_lift,
    ratio_of_sums,
    relative_lift,
    weighted_mean_ci,
    wilson_interval,
)


def test_z95_is_the_normal_quantile():
    assert scipy_stats.norm.ppf(0.975) == Z95
    assert normal_ci95(1.0, 0.5) == [1.0 - Z95 * 0.5, 1.0 + Z95 * 0.5]


def test_mean_se_needs_two_units():
    assert np.isnan(mean_se(np.array([3.0])))
    assert mean_se(np.array([1.0, 3.0])) == np.std([1.0, 3.0], ddof=1) / np.sqrt(2)


def test_delta_method_interval_has_nominal_coverage():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(300):
        n = rng.integers(1, 6, 400)  # cards per user
        x = rng.binomial(n, 0.2)
        est = ratio_of_sums(x, n)
        covered += est.ci95[0] <= 0.2 <= est.ci95[1]
    assert 0.92 <= covered / 300 <= 0.98


def test_relative_lift_of_equal_estimates_is_zero():
    est = ratio_of_sums(np.array([1.0, 2, 3, 4]), np.ones(4))
    lift = relative_lift(est, est)
    assert lift.value == 0 and lift.ci95[0] < 0 < lift.ci95[1]


def test_paired_lift_interval_covers_a_known_ratio():
    rng = np.random.default_rng(9)
    c = rng.gamma(2.0, 1.0, 5000)
    t = 1.3 * c + rng.normal(0, 0.5, 5000)
    got = paired_lift(t, c, np.ones(5000))
    assert got["ci95"][0] < 0.3 < got["ci95"][1]
    assert got["ci95"][1] - got["ci95"][0] < 0.05  # pairing removes the contexts' spread


def test_weighted_mean_with_equal_weights_is_the_mean_and_its_normal_interval():
    values = np.array([1.0, 2.0, 4.0, 5.0])
    mean, ci = weighted_mean_ci(values, np.ones(4))
    assert mean == 3.0
    assert np.allclose(ci, normal_ci95(3.0, mean_se(values)))


def test_log_ratio_interval_is_symmetric_on_the_log_scale():
    low, high = log_ratio_ci95(np.array([0.5]), np.array([0.1]))
    assert np.allclose(np.log(high) - np.log(0.5), np.log(0.5) - np.log(low))
    assert np.allclose(high / low, np.exp(2 * Z95 * 0.1))


def test_paired_bootstrap_lift_covers_a_known_lift_and_refuses_a_zero_control():
    rng = np.random.default_rng(3)
    c = rng.exponential(1.0, 3000)
    t = 1.2 * c
    idx = bootstrap_indices(3000, 500, seed=1)
    got = bootstrap_lift(t, c, idx)
    assert abs(got["lift"] - 0.2) < 1e-12 and np.allclose(got["ci95"], 0.2)  # paired: no spread
    mean = bootstrap_mean(c, idx)
    assert mean["ci95"][0] < c.mean() < mean["ci95"][1]
    assert bootstrap_lift(t, np.zeros(3000), idx) == {"lift": None, "ci95": None}


def test_wilson_interval_matches_the_textbook():
    lo, hi = wilson_interval(30, 100)  # the textbook example: 0.2189 - 0.3958
    assert abs(lo - 0.2189) < 1e-3 and abs(hi - 0.3958) < 1e-3
    assert wilson_interval(0, 0) == (0.0, 1.0)
