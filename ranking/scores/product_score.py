"""The product score (0-100, grade A-D) and its six dimensions, each a percentile within
the product's leaf category:

* **information** = pct(0.2 min(title chars / 30, 1) + 0.4 min(images / 8, 1)
  + 0.4 min(attributes / 12, 1)): a complete listing;
* **popularity** = mean(pct(CTR), pct(CVR), pct(sales velocity)) with CTR = clicks /
  impressions and CVR = orders / clicks, recency weighted and shrunk toward the leaf's
  rate, sales velocity = log(1 + weighted units per window day);
* **quality** = mean(pct(rating), pct(-quality-return rate)) with rating the weighted mean
  stars and quality-return rate = quality / not-as-described returns per order, each shrunk
  toward a nested prior: leaf -> brand in the leaf -> comparable group
  (:func:`ranking.scores.shrinkage.nested_prior`; ``k/4`` pseudo-reviews, ``k`` orders);
* **service** = its store's service dimension (after-sale record), as a percentile of
  the leaf's products;
* **brand** = pct(tier strength + log(1 + the brand's weighted orders in the leaf)) with
  tier strength big brand 2, native fast-growing 1, white label 0;
* **price** = pct(price advantage) (:mod:`ranking.scores.price_advantage`).

``product_score = sum_d weight_d * dimension_d`` (``scores.product_weights``); grade A at
80 and above, B 60-80, C 40-60, D below 40.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.scores.shrinkage import category_prior, nested_prior, percentile_within, shrunk_rate

PRODUCT_DIMENSIONS = ("information", "popularity", "quality", "service", "brand", "price")
TIER_STRENGTH = {"big_brand": 2.0, "native_fast_growing": 1.0, "white_label": 0.0}


GRADE_FLOORS = (("A", 80.0), ("B", 60.0), ("C", 40.0))  # the lowest score of each grade; below: D


def grade(score: np.ndarray) -> np.ndarray:
    """Each product score's grade, A-D (:data:`GRADE_FLOORS`); NaN (no score) is D."""
    score = np.asarray(score)
    return np.select([score >= floor for _, floor in GRADE_FLOORS], [g for g, _ in GRADE_FLOORS], "D")


def product_signals(products: pd.DataFrame, agg: pd.DataFrame, leaf: np.ndarray, k: float,
                    window_days: int) -> pd.DataFrame:
    """The shrunk per-product signals the dimensions rank (also features for the ranker)."""
    out = pd.DataFrame(index=agg.index)
    clicks, imps = agg.clicks_w.to_numpy(), agg.impressions_w.to_numpy()
    orders = agg.orders_w.to_numpy()
    out["ctr"] = shrunk_rate(clicks, imps, category_prior(clicks, imps, leaf, strength=k), k)
    out["cvr"] = shrunk_rate(orders, clicks, category_prior(orders, clicks, leaf, strength=k), k)
    out["sales_velocity"] = np.log1p(agg.units_w.to_numpy() / window_days)
    # quality pools along leaf -> brand in leaf -> comparable group (the same item elsewhere)
    brand_leaf = products.brand_id.to_numpy(np.int64) * 1_000_003 + leaf
    levels = [leaf, brand_leaf, products.comparable_group_id.to_numpy(np.int64)]
    rsum, rn = agg.rating_sum_w.to_numpy(), agg.reviews_w.to_numpy()
    out["rating"] = shrunk_rate(rsum, rn, nested_prior(rsum, rn, levels, k / 4), k / 4)
    q = agg.quality_returns_w.to_numpy()
    out["quality_return_rate"] = shrunk_rate(q, orders, nested_prior(q, orders, levels, k), k)
    title_len = products.title.str.len().to_numpy(np.float64)
    out["information_raw"] = (0.2 * np.minimum(title_len / 30, 1)
                              + 0.4 * np.minimum(products.image_count.to_numpy() / 8, 1)
                              + 0.4 * np.minimum(products.attribute_count.to_numpy() / 12, 1))
    return out


def product_dimensions(signals: pd.DataFrame, leaf: np.ndarray, store_service: np.ndarray,
                       brand_strength: np.ndarray, advantage: np.ndarray) -> pd.DataFrame:
    def pct(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
        return percentile_within(values, leaf, higher_is_better)

    dims = pd.DataFrame(index=signals.index)
    dims["product_information"] = pct(signals.information_raw.to_numpy())
    dims["product_popularity"] = (pct(signals.ctr.to_numpy()) + pct(signals.cvr.to_numpy())
                                  + pct(signals.sales_velocity.to_numpy())) / 3
    dims["product_quality"] = (pct(signals.rating.to_numpy())
                               + pct(signals.quality_return_rate.to_numpy(), False)) / 2
    dims["product_service"] = pct(store_service)
    dims["product_brand"] = pct(brand_strength)
    dims["product_price"] = pct(advantage)
    return dims


def product_score(dims: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
    total = sum(weights.values())
    return sum(weights[d] * dims[f"product_{d}"].to_numpy() for d in PRODUCT_DIMENSIONS) / total
