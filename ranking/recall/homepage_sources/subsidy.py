"""``subsidy``: the big-brand subsidy channel's best products (merit order), the same for everyone."""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext


class Subsidy(QuotaSource):
    name = "subsidy"

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        return self.fitted.product_ids[self.fitted.head("subsidy", k)]
