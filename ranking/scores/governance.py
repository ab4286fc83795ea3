"""Governance flags: banned products, and demotion for quality returns far above the category.

A product (store) is flagged ``demoted`` when its quality-return rate (quality or
not-as-described returns per order, recency weighted, *not* shrunk) is more than
``scores.demotion_ratio`` (default 2) times its leaf's (store: its category's) pooled rate
and it has at least ``scores.demotion_min_orders`` orders in the window, so a handful of
orders cannot trigger it. Banned products come from the catalog (``products.banned``).
"""

from __future__ import annotations

import numpy as np

from ranking.scores.shrinkage import category_prior


def demotion_flags(quality_returns: np.ndarray, orders_w: np.ndarray, orders_n: np.ndarray,
                   category: np.ndarray, ratio: float, min_orders: int) -> np.ndarray:
    rate = np.where(orders_w > 0, quality_returns / np.maximum(orders_w, 1e-12), 0.0)
    prior = category_prior(quality_returns, orders_w, category)
    return (orders_n >= min_orders) & (rate > ratio * prior) & (prior > 0)
