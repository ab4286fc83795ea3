"""Shrinking rates toward their category's prior, and percentiles within a category.

``shrunk = (successes + k * prior) / (trials + k)`` where ``prior`` is the category's
pooled rate, itself shrunk toward the mall's (``(S_c + k * mall) / (N_c + k)``), and ``k`` the
prior strength (settings ``scores.prior_strength``, default 20 pseudo-events). A store with 3
orders and no problem gets ``(0 + 20 p) / (3 + 20)``: close to its category, not perfect.

Dimension scores are percentiles within the category: ``100 * (rank - 0.5) / n`` with
average ranks for ties, so the median member scores about 50 and a category of one
scores 50.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def category_prior(successes: np.ndarray, trials: np.ndarray, category: np.ndarray,
                   fallback: float | None = None, strength: float = 0.0) -> np.ndarray:
    """Each member's category rate: ``(S_c + strength * mall) / (N_c + strength)``.

    ``S_c, N_c`` are the category's pooled successes and trials and ``mall`` the mall-wide
    pooled rate (``fallback`` when given). With ``strength > 0`` a thin category leans on
    the mall, and one member's events move its own shrunk rate more than any other
    member's, so adding bad events to a member never improves its percentile.
    """
    s = pd.Series(successes, dtype=np.float64).groupby(category).transform("sum").to_numpy()
    n = pd.Series(trials, dtype=np.float64).groupby(category).transform("sum").to_numpy()
    total_n = float(np.sum(trials))
    mall = fallback if fallback is not None else (float(np.sum(successes)) / total_n if total_n > 0 else 0.0)
    if strength > 0:
        return (s + strength * mall) / (n + strength)
    return np.where(n > 0, s / np.maximum(n, 1e-12), mall)


def shrunk_rate(successes: np.ndarray, trials: np.ndarray, prior: np.ndarray | float,
                strength: float) -> np.ndarray:
    """``(successes + strength * prior) / (trials + strength)``."""
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if strength <= 0:
        return np.where(n > 0, s / np.maximum(n, 1e-12), prior)
    return (s + strength * np.asarray(prior)) / (n + strength)


def shrunk_by_category(successes: np.ndarray, trials: np.ndarray, category: np.ndarray,
                       strength: float) -> np.ndarray:
    return shrunk_rate(successes, trials, category_prior(successes, trials, category, strength=strength),
                       strength)


def percentile_within(values: np.ndarray, category: np.ndarray, higher_is_better: bool = True
                      ) -> np.ndarray:
    """0-100 percentile of each value among its category's (average ranks for ties; NaN for a
    NaN value, which still counts in its category's size).

    Integer categories (every caller's: leaf, main category, one group) are ranked with one sort
    (:func:`_sorted_ranks`), the very floats pandas' grouped average rank gives (a tie's
    average of whole ranks is a half-integer, exact in float64; tested against it): a daily
    training snapshot asks for about 20 of these, and pandas' groupby rank and size were ~10%
    of building a training frame. Other categories go through pandas."""
    v = np.asarray(values, dtype=np.float64)
    v = v if higher_is_better else -v
    c = np.asarray(category)
    if c.dtype.kind in "iub" and len(c) == len(v):
        rank, size = _sorted_ranks(v, c)
    else:
        frame = pd.DataFrame({"v": v, "c": category})
        rank = frame.groupby("c").v.rank(method="average").to_numpy()
        size = frame.groupby("c").v.transform("size").to_numpy()
    return 100.0 * (rank - 0.5) / size


def _sorted_ranks(v: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's average rank (1-based, NaN for NaN) within its category and the category's
    size, from one sort by (category, value): NaNs sort last, so the values rank among
    themselves; a run of equal values shares the mean of its first and last rank."""
    n = len(v)
    if n == 0:
        return np.empty(0), np.empty(0, np.int64)
    order = np.lexsort((v, c))
    cs, vs = c[order], v[order]
    new_group = np.ones(n, bool)
    new_group[1:] = cs[1:] != cs[:-1]
    starts = np.flatnonzero(new_group)
    group = np.cumsum(new_group) - 1
    at = np.arange(n) - starts[group] + 1  # the 1-based rank in the category, ties apart
    new_run = new_group.copy()
    new_run[1:] |= vs[1:] != vs[:-1]  # NaN != NaN: each NaN a run of its own
    run_starts = np.flatnonzero(new_run)
    run = np.cumsum(new_run) - 1
    run_ends = np.r_[run_starts[1:], n] - 1
    sorted_rank = (at[run_starts][run] + at[run_ends][run]) / 2.0
    sorted_rank[np.isnan(vs)] = np.nan
    rank, size = np.empty(n), np.empty(n, np.int64)
    rank[order] = sorted_rank
    size[order] = np.diff(np.r_[starts, n])[group]
    return rank, size


def nested_prior(successes: np.ndarray, trials: np.ndarray, levels: list[np.ndarray],
                 strength: float) -> np.ndarray:
    """A prior shrunk down a hierarchy of groupings, coarsest first.

    Starting from the mall rate, each level's pooled rate is shrunk toward the level above:
    ``p_level = (S_level + k * p_above) / (N_level + k)``. For product quality the levels
    are leaf category -> brand in the leaf -> comparable group (the same item sold by
    several stores), so a product with two reviews borrows from the other stores' listings
    of the same item before it borrows from its category.
    """
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    total = float(n.sum())
    prior = np.full(len(s), float(s.sum()) / total if total > 0 else 0.0)
    for key in levels:
        s_l = pd.Series(s).groupby(key).transform("sum").to_numpy()
        n_l = pd.Series(n).groupby(key).transform("sum").to_numpy()
        prior = (s_l + strength * prior) / (n_l + strength)
    return prior
