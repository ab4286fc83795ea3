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


def test_the_blockwise_search_is_the_one_test_per_resample_search(monkeypatch):
    """The resamples are tested a block at a time (one scipy call per block): the detection
    rates are those of one draw and one test per resample, as before, to the last bit, when
    a block is smaller than the trials (blocks of 64 values) and when it holds them all."""
    from scipy import stats

    from training.experiments import closed_loop as cl

    def reference(seed, a, b, d, direction, n, trials):
        rng, out = np.random.default_rng(seed), []
        hits = 0
        for _ in range(trials):
            x, y = rng.choice(a, n // 2), rng.choice(b, n // 2)
            hits += bool(np.sign(y.mean() - x.mean()) == direction
                         and stats.ttest_ind(y, x, equal_var=False).pvalue < 0.05)
        out.append(hits / trials)
        for test in ("sign", "mean"):
            hits = 0
            for _ in range(trials):
                s = rng.choice(d, n)
                if test == "sign":
                    w, v = int((np.sign(s) == direction).sum()), int((np.sign(s) == -direction).sum())
                    hits += bool(w > v and stats.binomtest(w, w + v, 0.5).pvalue < 0.05)
                else:
                    hits += bool(np.sign(s.mean()) == direction and s.std() > 0
                                 and stats.ttest_1samp(s, 0.0).pvalue < 0.05)
            out.append(hits / trials)
        return out

    def blockwise(seed, a, b, d, direction, n, trials):
        rng = np.random.default_rng(seed)
        return [cl._ab_detects(rng, a, b, direction, n, trials),
                *(cl._interleave_detects(rng, d, direction, n, trials, t) for t in ("sign", "mean"))]

    rng = np.random.default_rng(5)
    a = rng.gamma(1.0, 100.0, 300) * (rng.random(300) < 0.2)  # mostly zero: ties, flat resamples
    b = rng.gamma(1.0, 120.0, 300) * (rng.random(300) < 0.2)
    d = np.where(rng.random(300) < 0.8, 0.0, rng.normal(5.0, 40.0, 300))
    for block in (64, 1 << 21):
        monkeypatch.setattr(cl, "_BLOCK_VALUES", block)
        for seed, n in ((1, 6), (2, 40), (3, 250)):
            for direction in (1, -1):
                args = (seed, a, b, d, direction, n, 60)
                assert blockwise(*args) == reference(*args)
