"""Store features: the store experience score, its dimensions, returning customers, newness."""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


def _s(x: FeatureInputs, column: str) -> np.ndarray:
    return x.snapshot.stores.take(column, x.store_row)


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


@feature("returning_customer_index", "store", "repeat purchase and returning buyers' reviews, 0-100",
         label="returning customers", unit="score")
def returning_customer_index(x: FeatureInputs) -> np.ndarray:
    return _s(x, "returning_customer_index")


@feature("new_store", "store", "1 if the store opened less than 30 days before the snapshot",
         default=0.0,
         label="new store (under 30 days)", unit="flag")
def new_store(x: FeatureInputs) -> np.ndarray:
    return _s(x, "new_store")
