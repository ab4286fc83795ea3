"""Price features: price advantage against the same item elsewhere, price level, discount."""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


@feature("price_advantage", "price", "how much cheaper than the same item elsewhere (signed, clipped)",
         label="cheaper than elsewhere", unit="signed_percent")
def price_advantage(x: FeatureInputs) -> np.ndarray:
    return x.product_column("price_advantage")


@feature("price_competitiveness", "price", "price dimension of the product score, 0-100",
         label="price competitiveness", unit="score")
def price_competitiveness(x: FeatureInputs) -> np.ndarray:
    return x.column("products", "product_price")


@feature("log_price", "price", "log of the selling price in yuan",
         label="price", unit="log_yuan")
def log_price(x: FeatureInputs) -> np.ndarray:
    return np.log(np.maximum(x.product_column("price"), 0.01))


@feature("price_vs_category", "price", "log price minus the leaf category's median log price",
         label="price vs category median", unit="log_ratio")
def price_vs_category(x: FeatureInputs) -> np.ndarray:
    return x.product_column("log_price_vs_category")


@feature("discount_rate", "price", "1 - price / list price, as the card shows it",
         label="discount off list price", unit="percent")
def discount_rate(x: FeatureInputs) -> np.ndarray:
    return 1.0 - x.product_column("price") / np.maximum(x.product_column("list_price"), 0.01)
