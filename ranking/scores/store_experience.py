"""The store experience score (0-100) and its four dimensions.

Each rate is recency weighted over the window and shrunk toward the store's category
prior (:mod:`ranking.scores.shrinkage`, strength ``k``); each dimension is the mean of its
rates' percentiles within the store's category (its main top-level category):

* **product quality** = mean(pct(-negative-review rate), pct(-quality-return rate)) with
  negative-review rate = reviews rated 1-2 / reviews, quality-return rate = returns for
  quality or not-as-described / orders;
* **logistics** = mean(pct(on-time shipping rate), pct(on-time delivery rate)) with
  on-time shipping = shipped within ``on_time_ship_hours`` of payment, on-time delivery =
  delivered within the promised days (an order past its deadline and not yet
  shipped/delivered counts as late);
* **service** = mean(pct(-mean log first-response seconds), pct(-dispute rate),
  pct(resolution rate)) over service tickets (the mean log response is shrunk like a rate);
* **stability** = mean(pct(-coefficient of variation of weekly order counts),
  pct(-cancellation rate)), the CV shrunk toward the category's with the store's orders
  as its weight.

``store_experience_score = sum_d weight_d * dimension_d`` with ``scores.store_weights``
(default product quality 0.30, logistics 0.30, service 0.25, stability 0.15).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.scores.shrinkage import category_prior, percentile_within, shrunk_rate
from ranking.settings import ScoreSettings

STORE_DIMENSIONS = ("product_quality", "logistics", "service", "stability")


def store_rates(agg: pd.DataFrame, category: np.ndarray, k: float) -> pd.DataFrame:
    """The shrunk rates behind each dimension (one row per store)."""

    def rate(num: str, den: str) -> np.ndarray:
        n, d = agg[num].to_numpy(), agg[den].to_numpy()
        return shrunk_rate(n, d, category_prior(n, d, category, strength=k), k)

    out = pd.DataFrame(index=agg.index)
    out["negative_review_rate"] = rate("negative_reviews_w", "reviews_w")
    out["quality_return_rate"] = rate("quality_returns_w", "orders_w")
    out["on_time_ship_rate"] = rate("ships_on_time_w", "ships_known_w")
    out["on_time_delivery_rate"] = rate("deliveries_on_time_w", "deliveries_known_w")
    out["mean_log_response"] = rate("log_response_sum_w", "tickets_w")
    out["dispute_rate"] = rate("disputes_w", "orders_w")
    out["resolution_rate"] = rate("resolved_w", "tickets_w")
    out["cancellation_rate"] = rate("cancelled_w", "orders_w")
    cv = agg["weekly_orders_cv_raw"].to_numpy()
    orders = agg["orders_n"].to_numpy()
    has = ~np.isnan(cv)
    prior = category_prior(np.where(has, cv * orders, 0.0), np.where(has, orders, 0.0), category,
                           fallback=float(np.nanmedian(cv)) if has.any() else 1.0)
    out["weekly_orders_cv"] = shrunk_rate(np.where(has, cv * orders, 0.0), np.where(has, orders, 0.0),
                                          prior, k)
    return out


def store_dimensions(rates: pd.DataFrame, category: np.ndarray) -> pd.DataFrame:
    def pct(col: str, higher_is_better: bool) -> np.ndarray:
        return percentile_within(rates[col].to_numpy(), category, higher_is_better)

    dims = pd.DataFrame(index=rates.index)
    dims["store_product_quality"] = (pct("negative_review_rate", False)
                                     + pct("quality_return_rate", False)) / 2
    dims["store_logistics"] = (pct("on_time_ship_rate", True) + pct("on_time_delivery_rate", True)) / 2
    dims["store_service"] = (pct("mean_log_response", False) + pct("dispute_rate", False)
                             + pct("resolution_rate", True)) / 3
    dims["store_stability"] = (pct("weekly_orders_cv", False) + pct("cancellation_rate", False)) / 2
    return dims


def store_experience_score(dims: pd.DataFrame, settings: ScoreSettings) -> np.ndarray:
    weights = settings.store_weights
    total = sum(weights.values())
    return sum(weights[d] * dims[f"store_{d}"].to_numpy() for d in STORE_DIMENSIONS) / total
