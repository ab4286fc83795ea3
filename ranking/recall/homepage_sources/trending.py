"""``trending``: recency-weighted sales velocity, half the quota from the shopper's
favourite leaves first (when known), then the mall's."""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext

TRENDING_HEAD = 50  # the user's categories are looked for in the top 50 x quota trending items


class Trending(QuotaSource):
    name = "trending"

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        # the head is enough; the whole list is the catalog (an isin over 1M per request)
        trending = self.fitted.head("trending", TRENDING_HEAD * k)
        if len(context.top_leaves):
            mine = np.isin(self.fitted.arrays["product_leaf"][trending], context.top_leaves)
            trending = np.r_[trending[mine][: k // 2], trending[~mine]]
        return self.fitted.product_ids[trending[:k]]
