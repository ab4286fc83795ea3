"""Every confidence interval and lift the offline code reports, computed one way each.

All intervals are two-sided 95%. Normal intervals use ``Z95`` = ``norm.ppf(0.975)`` =
1.959963984540054 (not the rounded 1.96), so an interval is the same wherever it is made.

* ``normal_ci95(estimate, se)``: estimate +- Z95 se; ``mean_se`` the standard error of a
  mean over units (``std(ddof=1) / sqrt(n)``, NaN under two units).
* ``ratio_of_sums(x, y)``: sum(x) / sum(y) over units (users, contexts), delta method
  ``var(X/Y) ~ (var X - 2 r cov(X,Y) + r^2 var Y) / (n mean(Y)^2)``, r = mean X / mean Y.
* ``relative_lift(t, c)``: t / c - 1 of two independent estimates, delta method.
* ``paired_lift(t, c, w)``: the lift of one weighted sum over another on the same units
  (paired: both arms scored on the same contexts), delta method.
* ``weighted_mean_ci(values, w)``: a weighted mean with the ratio estimator's variance.
* ``log_ratio_ci95(ratio, se_log)``: ratio x exp(+-Z95 se) for a ratio whose log has
  standard error ``se_log`` (the position-bias curve).
* ``bootstrap_indices`` / ``bootstrap_ci95`` / ``bootstrap_mean`` / ``bootstrap_lift``:
  percentile intervals over resampled units, paired when two arms share the indices.
* ``wilson_interval(successes, n)``: the Wilson score interval of a binomial share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
NAN_CI = (float("nan"), float("nan"))


@dataclass
class RatioEstimate:
    """An estimate with its 95% interval and standard error."""

    value: float
    ci95: tuple[float, float]
    se: float


def normal_ci95(estimate: float, se: float) -> list[float]:
    """[estimate - Z95 se, estimate + Z95 se] (NaN where ``se`` is)."""
    return [estimate - Z95 * se, estimate + Z95 * se]


def mean_se(values: np.ndarray) -> float:
    """Standard error of the mean over units; NaN with fewer than two."""
    values = np.asarray(values, float)
    n = len(values)
    return float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def ratio_of_sums(x: np.ndarray, y: np.ndarray) -> RatioEstimate:
    """sum(x) / sum(y) over units, with a delta-method 95% interval."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n == 0 or y.sum() == 0:
        return RatioEstimate(float("nan"), NAN_CI, float("nan"))
    mx, my = x.mean(), y.mean()
    r = mx / my
    if n < 2:
        return RatioEstimate(float(r), NAN_CI, float("nan"))
    vx, vy = x.var(ddof=1), y.var(ddof=1)
    cxy = np.cov(x, y, ddof=1)[0, 1]
    se = math.sqrt(max(vx - 2 * r * cxy + r * r * vy, 0.0) / n) / my
    return RatioEstimate(float(r), (float(r - Z95 * se), float(r + Z95 * se)), float(se))


def relative_lift(treatment: RatioEstimate, control: RatioEstimate) -> RatioEstimate:
    """t/c - 1 with the delta-method interval of a ratio of independent estimates."""
    t, c = treatment.value, control.value
    if not (np.isfinite(t) and np.isfinite(c)) or c == 0:
        return RatioEstimate(float("nan"), NAN_CI, float("nan"))
    lift = t / c - 1
    se = abs(t / c) * math.sqrt((treatment.se / t) ** 2 + (control.se / c) ** 2) if t != 0 else control.se / c
    return RatioEstimate(float(lift), (float(lift - Z95 * se), float(lift + Z95 * se)), float(se))


def paired_lift(treatment: np.ndarray, control: np.ndarray, weights: np.ndarray) -> dict:
    """Lift of the weighted sum of ``treatment`` over ``control`` per unit (the same units for
    both), with a delta-method 95% interval: ``{"lift", "ci95"}``."""
    t, c = float((weights * treatment).sum()), float((weights * control).sum())
    if c <= 0:
        return {"lift": float("nan"), "ci95": list(NAN_CI)}
    ratio = t / c
    n = len(weights)
    z = weights * (treatment - ratio * control) / (c / n)
    return {"lift": ratio - 1, "ci95": normal_ci95(ratio - 1, mean_se(z))}


def weighted_mean_ci(values: np.ndarray, weights: np.ndarray) -> tuple[float, list[float]]:
    """Weighted mean and a normal 95% interval (ratio-estimator variance over units)."""
    sw = weights.sum()
    mean = float((weights * values).sum() / sw)
    n = len(values)
    if n < 2:
        return mean, list(NAN_CI)
    z = weights * (values - mean) / sw * n
    return mean, normal_ci95(mean, mean_se(z))


def log_ratio_ci95(ratio: np.ndarray, se_log: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) = ratio x exp(-+Z95 se_log): the interval of a ratio from its log's se."""
    return ratio * np.exp(-Z95 * se_log), ratio * np.exp(Z95 * se_log)


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` x ``n`` unit indices drawn with replacement (share them to pair arms)."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap_ci95(replicates: np.ndarray) -> list[float]:
    """The 2.5% and 97.5% percentiles of bootstrap replicates."""
    return [float(np.quantile(replicates, 0.025)), float(np.quantile(replicates, 0.975))]


def bootstrap_mean(values: np.ndarray, idx: np.ndarray) -> dict:
    """Mean over units with its percentile bootstrap interval: ``{"mean", "ci95"}``."""
    return {"mean": float(values.mean()), "ci95": bootstrap_ci95(values[idx].mean(axis=1))}


def bootstrap_lift(treatment: np.ndarray, control: np.ndarray, idx: np.ndarray) -> dict:
    """mean(t) / mean(c) - 1 with a paired percentile bootstrap interval (None when the
    control's mean is not positive): ``{"lift", "ci95"}``."""
    if control.mean() <= 0:
        return {"lift": None, "ci95": None}
    boot = treatment[idx].mean(axis=1) / np.maximum(control[idx].mean(axis=1), 1e-12) - 1
    return {"lift": float(treatment.mean() / control.mean() - 1), "ci95": bootstrap_ci95(boot)}


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a binomial share; (0, 1) with no trials."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = successes / n, Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half
