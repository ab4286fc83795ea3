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
    """0-100 percentile of each value among its category's (average ranks for ties)."""
    v = np.asarray(values, dtype=np.float64)
    v = v if higher_is_better else -v
    frame = pd.DataFrame({"v": v, "c": category})
    rank = frame.groupby("c").v.rank(method="average").to_numpy()
    size = frame.groupby("c").v.transform("size").to_numpy()
    return 100.0 * (rank - 0.5) / size


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
