"""``top_categories``: best products (product score x popularity) of the shopper's three
favourite leaves at this time slot, an equal share from each."""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import NO_IDS, QuotaSource, array_key
from ranking.recall.homepage_sources.context import ShopperContext


class TopCategories(QuotaSource):
    name = "top_categories"

    def list_key(self, context: ShopperContext, k: int) -> tuple:  # what the list reads
        return array_key(k, context.top_leaves)

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        if not len(context.top_leaves):
            return NO_IDS
        return self.fitted.product_ids[self.fitted.from_leaves(context.top_leaves, k)]
