"""``recently_viewed``: the shopper's own items, strongest first ("continue shopping").

Strength is interaction weight x recency. On real data (Taobao) the single strongest
predictor of tomorrow's clicks.
"""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext


class RecentlyViewed(QuotaSource):
    name = "recently_viewed"

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        return self.fitted.product_ids[context.recent_items[:k]]
