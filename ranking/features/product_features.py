"""Product features: the product score and its dimensions, popularity, rating, badges."""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


def _p(x: FeatureInputs, column: str) -> np.ndarray:
    return x.product_column(column)


@feature("product_score", "product", "the mall's product score, 0-100",
         label="product score", unit="score")
def product_score(x: FeatureInputs) -> np.ndarray:
    return _p(x, "product_score")


@feature("product_information", "product", "information completeness dimension, 0-100",
         label="listing completeness", unit="score")
def product_information(x: FeatureInputs) -> np.ndarray:
    return _p(x, "product_information")


@feature("product_popularity", "product", "popularity dimension of the product score, 0-100",
         label="popularity", unit="score")
def product_popularity(x: FeatureInputs) -> np.ndarray:
    return _p(x, "product_popularity")


@feature("product_quality", "product", "quality dimension (rating, quality returns), 0-100",
         label="product quality", unit="score")
def product_quality(x: FeatureInputs) -> np.ndarray:
    return _p(x, "product_quality")


@feature("product_service", "product", "service dimension (its store's after-sale record), 0-100",
         label="after-sale service", unit="score")
def product_service(x: FeatureInputs) -> np.ndarray:
    return _p(x, "product_service")


@feature("product_brand_strength", "product", "brand strength dimension, 0-100",
         label="brand strength", unit="score")
def product_brand_strength(x: FeatureInputs) -> np.ndarray:
    return _p(x, "product_brand")


@feature("ctr", "product", "smoothed click-through rate of the product's impressions",
         label="click-through rate", unit="percent")
def ctr(x: FeatureInputs) -> np.ndarray:
    return _p(x, "ctr")


@feature("cvr", "product", "smoothed orders per click",
         label="conversion rate (orders per click)", unit="percent")
def cvr(x: FeatureInputs) -> np.ndarray:
    return _p(x, "cvr")


@feature("sales_velocity", "product", "log(1 + recency-weighted units sold per day)",
         label="sales velocity (units/day)", unit="log1p_per_day")
def sales_velocity(x: FeatureInputs) -> np.ndarray:
    return np.log1p(_p(x, "sales_velocity"))


@feature("rating", "product", "shrunk mean review rating, 1-5",
         label="review rating", unit="stars")
def rating(x: FeatureInputs) -> np.ndarray:
    return _p(x, "rating")


@feature("subsidy", "product", "1 if in the big-brand subsidy channel", default=0.0,
         label="in the subsidy channel", unit="flag")
def subsidy(x: FeatureInputs) -> np.ndarray:
    return _p(x, "subsidy")


@feature("big_brand", "product", "1 if the brand is a big brand", default=0.0,
         label="big brand", unit="flag")
def big_brand(x: FeatureInputs) -> np.ndarray:
    return _p(x, "big_brand")
