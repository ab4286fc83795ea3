"""Store features: the store experience score, its dimensions, returning customers, newness."""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


def _s(x: FeatureInputs, column: str) -> np.ndarray:
    return x.column("stores", column)


@feature("store_experience_score", "store", "the mall's store experience score, 0-100",
         label="store experience score", unit="score")
def store_experience_score(x: FeatureInputs) -> np.ndarray:
    return _s(x, "store_experience_score")


@feature("store_product_quality", "store", "product quality dimension of the store, 0-100",
         label="store's product quality", unit="score")
def store_product_quality(x: FeatureInputs) -> np.ndarray:
    return _s(x, "store_product_quality")


@feature("store_logistics", "store", "logistics dimension (on-time shipping, delivery vs promise)",
         label="store's shipping and delivery", unit="score")
def store_logistics(x: FeatureInputs) -> np.ndarray:
    return _s(x, "store_logistics")


@feature("store_service", "store", "service dimension (response, disputes, resolution), 0-100",
         label="store's customer service", unit="score")
def store_service(x: FeatureInputs) -> np.ndarray:
    return _s(x, "store_service")


@feature("store_stability", "store", "operating stability dimension, 0-100",
         label="store's stability", unit="score")
def store_stability(x: FeatureInputs) -> np.ndarray:
    return _s(x, "store_stability")


@feature("returning_customer_index", "store", "returning-customer index: its four dimensions combined, 0-100",
         label="returning customers", unit="score")
def returning_customer_index(x: FeatureInputs) -> np.ndarray:
    return _s(x, "returning_customer_index")


@feature("returning_quality_value", "store", "returning-customer dimension: quality and value for money "
         "(positive reviews, quality returns, price advantage), 0-100",
         label="quality and value for money", unit="score")
def returning_quality_value(x: FeatureInputs) -> np.ndarray:
    return _s(x, "returning_quality_value")


@feature("returning_service", "store", "returning-customer dimension: pre- and after-sale service "
         "(cancellations, shipping, tickets, disputes, resolution, response), 0-100",
         label="pre- and after-sale service", unit="score")
def returning_service(x: FeatureInputs) -> np.ndarray:
    return _s(x, "returning_service")


@feature("returning_content", "store", "returning-customer dimension: content interaction (engagement "
         "and reports of creator content featuring its products), 0-100",
         label="content interaction", unit="score")
def returning_content(x: FeatureInputs) -> np.ndarray:
    return _s(x, "returning_content")


@feature("returning_repeat", "store", "returning-customer dimension: repeat purchase and returning "
         "buyers' positive reviews, 0-100",
         label="repeat purchase", unit="score")
def returning_repeat(x: FeatureInputs) -> np.ndarray:
    return _s(x, "returning_repeat")


@feature("new_store", "store", "1 if the store opened less than 30 days before the snapshot",
         default=0.0,
         label="new store (under 30 days)", unit="flag")
def new_store(x: FeatureInputs) -> np.ndarray:
    return _s(x, "new_store")
