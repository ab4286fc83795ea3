"""Price features: price advantage against the same item elsewhere, price level, discount."""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


@feature("price_advantage", "price", "how much cheaper than the same item elsewhere (signed, clipped)",
         label="cheaper than elsewhere", unit="signed_percent")
def price_advantage(x: FeatureInputs) -> np.ndarray:
    return x.snapshot.products.take("price_advantage", x.product_row)


@feature("price_competitiveness", "price", "price dimension of the product score, 0-100",
         label="price competitiveness", unit="score")
def price_competitiveness(x: FeatureInputs) -> np.ndarray:
    return x.snapshot.products.take("product_price", x.product_row)


@feature("log_price", "price", "log of the selling price in yuan",
         label="price", unit="log_yuan")
def log_price(x: FeatureInputs) -> np.ndarray:
    return np.log(np.maximum(x.snapshot.products.take("price", x.product_row), 0.01))


@feature("price_vs_category", "price", "log price minus the leaf category's median log price",
         label="price vs category median", unit="log_ratio")
def price_vs_category(x: FeatureInputs) -> np.ndarray:
    return x.snapshot.products.take("log_price_vs_category", x.product_row)


@feature("discount_rate", "price", "1 - price / list price, as the card shows it",
         label="discount off list price", unit="percent")
def discount_rate(x: FeatureInputs) -> np.ndarray:
    p = x.snapshot.products
    return 1.0 - p.take("price", x.product_row) / np.maximum(p.take("list_price", x.product_row), 0.01)
