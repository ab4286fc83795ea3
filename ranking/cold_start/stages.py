"""The stage of each new product in cold start.

* ``exploring`` — new, under ``cold_start.graduation_impressions`` impressions and not
  confidently worse than its leaf: it may take an exploration slot.
* ``graduated`` — new, with enough impressions: it ranks like any other product, no slot.
* ``retired`` — new, but its order rate is below its leaf's mean with posterior probability of
  at least ``cold_start.retire_confidence``: no more exploration slots (it still ranks).

A product past both windows (``new_product_days`` since listing, ``new_store_days`` since its
store opened) is no longer new and has no stage.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import beta as beta_distribution

from ranking.cold_start.posterior import Posteriors
from ranking.settings import ColdStartSettings

EXPLORING, GRADUATED, RETIRED = "exploring", "graduated", "retired"
STAGES = (EXPLORING, GRADUATED, RETIRED)


def below_leaf(post: Posteriors) -> np.ndarray:
    """Posterior probability that each product's order rate is below its leaf's rate."""
    return beta_distribution.cdf(post.leaf_order_rate, post.order_alpha, post.order_beta)


def stages(post: Posteriors, settings: ColdStartSettings) -> np.ndarray:
    """Each new product's stage (an array of :data:`STAGES` strings)."""
    graduated = post.impressions >= settings.graduation_impressions
    retired = below_leaf(post) >= settings.retire_confidence
    return np.where(graduated, GRADUATED, np.where(retired, RETIRED, EXPLORING))
