"""Sessions to detect: resampled power of an A/B test against interleaving's credit tests."""

from __future__ import annotations

import numpy as np

from training.experiments.closed_loop import sessions_to_detect


def test_a_less_noisy_interleaving_credit_needs_fewer_sessions_and_finds_the_ab_winner():
    rng = np.random.default_rng(0)
    # A/B: GMV per session, treatment +10% with a heavy between-session spread
    a = rng.gamma(1.0, 100.0, 4000)
    b = rng.gamma(1.0, 110.0, 4000)
    # interleaving: per-session treatment-minus-control credit, same mean gap, less noise
    d = rng.normal(10.0, 40.0, 4000)
    got = sessions_to_detect(a, b, d, trials=100)
    assert got["winner"] == "treatment"
    # the normal-approximation sample sizes of the samples' own moments (80% power, 5% two-sided):
    # Welch with n/2 per arm, and a one-sample t over n sessions
    z = (1.959964 + 0.841621) ** 2
    ab = 2 * z * (a.var() + b.var()) / (b.mean() - a.mean()) ** 2
    interleaving = z * d.var() / d.mean() ** 2
    assert ab / 1.5 < got["ab"] < ab * 1.5
    assert interleaving / 1.5 < got["interleaving_mean_test"] < interleaving * 1.5
    assert got["ab_over_interleaving"] > 10


def test_interleaving_pointing_away_from_the_ab_winner_never_detects_it():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 2000), rng.normal(1.3, 1.0, 2000)
    d = rng.normal(-0.5, 1.0, 2000)  # the credit favours control
    got = sessions_to_detect(a, b, d, trials=50)
    assert got["winner"] == "treatment" and got["ab"] is not None
    assert got["interleaving"] is None and got["interleaving_mean_test"] is None
