"""``new_stores``: best products of stores opened in the last 30 days (the exploration pool)."""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext


class NewStores(QuotaSource):
    name = "new_stores"

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        return self.fitted.product_ids[self.fitted.head("new_stores", k)]
