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
from scipy.special import betainc

from ranking.cold_start.posterior import Posteriors
from ranking.settings import ColdStartSettings

EXPLORING, GRADUATED, RETIRED = "exploring", "graduated", "retired"
STAGES = (EXPLORING, GRADUATED, RETIRED)


def below_leaf(post: Posteriors) -> np.ndarray:
    """Posterior probability that each product's order rate is below its leaf's rate.

    The Beta CDF, ``scipy.stats.beta.cdf``'s values exactly (the regularised incomplete beta
    function inside (0, 1), 0 at or below 0, 1 at or above 1, NaN for a non-positive parameter
    or an unknown rate), without its argument parsing: that cost about 0.1 ms a request."""
    x, a, b = (np.asarray(v, np.float64) for v in (post.leaf_order_rate, post.order_alpha, post.order_beta))
    valid = (a > 0) & (b > 0)
    out = np.where(valid & (x >= 1), 1.0, 0.0)
    inside = valid & (x > 0) & (x < 1)
    out[inside] = betainc(a[inside], b[inside], x[inside])
    out[~valid | np.isnan(x)] = np.nan
    return out


def stages(post: Posteriors, settings: ColdStartSettings) -> np.ndarray:
    """Each new product's stage (an array of :data:`STAGES` strings)."""
    graduated = post.impressions >= settings.graduation_impressions
    retired = below_leaf(post) >= settings.retire_confidence
    return np.where(graduated, GRADUATED, np.where(retired, RETIRED, EXPLORING))
