"""Creator features: the creator reputation score (带货口碑分) of the creators featuring a product."""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


@feature("creator_reputation", "product", "best creator reputation score (0-100) among the creators "
         "whose content features the product; missing when none does",
         label="creators' reputation", unit="score")
def creator_reputation(x: FeatureInputs) -> np.ndarray:
    return x.product_column("creator_reputation")
