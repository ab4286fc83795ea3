"""The returning-customer index per store (0-100) and its four dimensions.

Every rate is over the scoring window, shrunk toward the store's category prior
(:mod:`ranking.scores.shrinkage`, ``k = scores.prior_strength`` pseudo-events) and ranked as
a percentile within the store's category (its main top-level category):

* **quality and value for money** (``returning_quality_value``) = mean(pct(positive-review
  rate), pct(-quality-return rate), pct(value)) with positive-review rate = reviews rated 4-5
  / reviews, quality-return rate = quality or not-as-described returns / orders, and value =
  the mean price advantage of the store's products (:mod:`ranking.scores.price_advantage`;
  a product without one counts 0) shrunk toward 0 by ``k / 4`` pseudo-products;
* **pre- and after-sale service** (``returning_service``) = mean(pct(-cancellation rate),
  pct(on-time shipping rate), pct(-ticket rate), pct(-dispute rate), pct(resolution rate),
  pct(-mean log first response)): the first two are what a buyer meets before the parcel
  arrives (the contracts hold no pre-sale chat), the others after; ticket rate = tickets /
  orders;
* **content interaction** (``returning_content``) = mean(pct(engagement rate),
  pct(-report rate)) of the creator content featuring the store's products (engagements and
  reports per view, shrunk toward the category's rate by ``scores.creator_prior_views``
  pseudo-views); a store without content sits at its category's prior, and a mall without
  creators gives every store 50;
* **repeat purchase** (``returning_repeat``) = mean(pct(repeat-purchase rate),
  pct(returning buyers' positive-review rate)) with repeat-purchase rate = buyers who ordered
  on two or more days / buyers, returning buyers' positive-review rate = their reviews rated
  4-5 / their reviews.

``returning_customer_index = sum_d weight_d * dimension_d`` (``scores.returning_customer_weights``,
a quarter each).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.scores.shrinkage import category_prior, percentile_within, shrunk_rate

RETURNING_DIMENSIONS = ("quality_value", "service", "content", "repeat")


def _rate(num: np.ndarray, den: np.ndarray, category: np.ndarray, k: float) -> np.ndarray:
    return shrunk_rate(num, den, category_prior(num, den, category, strength=k), k)


def returning_rates(agg: pd.DataFrame, category: np.ndarray, k: float, store_value: np.ndarray,
                    store_content: pd.DataFrame, prior_views: float) -> pd.DataFrame:
    """The shrunk rates behind the dimensions (one row per store). ``store_value``: per store
    (summed price advantage, products); ``store_content``: views, engagements, reports."""

    def rate(num: str, den: str, strength: float = k) -> np.ndarray:
        return _rate(agg[num].to_numpy(), agg[den].to_numpy(), category, strength)

    out = pd.DataFrame(index=agg.index)
    out["positive_review_rate"] = rate("positive_reviews_w", "reviews_w")
    out["value_for_money"] = shrunk_rate(store_value[:, 0], store_value[:, 1], 0.0, k / 4)
    out["ticket_rate"] = rate("tickets_w", "orders_w")
    views = store_content.views_n.to_numpy()
    out["content_engagement_rate"] = _rate(store_content.engagements_n.to_numpy(), views, category,
                                           prior_views)
    out["content_report_rate"] = _rate(store_content.reports_n.to_numpy(), views, category, prior_views)
    out["repeat_purchase_rate"] = rate("returning_buyers_n", "buyers_n")
    out["returning_positive_review_rate"] = rate("returning_positive_reviews_n", "returning_reviews_n")
    return out


def returning_customer_index(rates: pd.DataFrame, store_rates: pd.DataFrame, category: np.ndarray,
                             weights: dict[str, float]) -> pd.DataFrame:
    """The four dimensions and the index; ``store_rates``: the store experience score's
    rates (:func:`ranking.scores.store_experience.store_rates`), which the first two reuse."""
    both = pd.concat([rates, store_rates[[c for c in store_rates if c not in rates]]], axis=1)

    def pct(col: str, higher_is_better: bool = True) -> np.ndarray:
        return percentile_within(both[col].to_numpy(), category, higher_is_better)

    out = pd.DataFrame(index=rates.index)
    out["returning_quality_value"] = (pct("positive_review_rate") + pct("quality_return_rate", False)
                                      + pct("value_for_money")) / 3
    out["returning_service"] = (pct("cancellation_rate", False) + pct("on_time_ship_rate")
                                + pct("ticket_rate", False) + pct("dispute_rate", False)
                                + pct("resolution_rate") + pct("mean_log_response", False)) / 6
    out["returning_content"] = (pct("content_engagement_rate") + pct("content_report_rate", False)) / 2
    out["returning_repeat"] = (pct("repeat_purchase_rate") + pct("returning_positive_review_rate")) / 2
    total = sum(weights.values())
    out.insert(0, "returning_customer_index",
               sum(weights[d] * out[f"returning_{d}"].to_numpy() for d in RETURNING_DIMENSIONS) / total)
    return out
