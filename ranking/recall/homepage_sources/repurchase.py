"""``repurchase``: best products of the consumable leaves the shopper bought in before."""

from __future__ import annotations

import numpy as np

from ranking.membership import isin_few
from ranking.recall.homepage_sources.base import NO_IDS, QuotaSource, array_key
from ranking.recall.homepage_sources.context import ShopperContext


class Repurchase(QuotaSource):
    name = "repurchase"

    def list_key(self, context: ShopperContext, k: int) -> tuple:  # what the list reads
        return array_key(k, context.bought_leaves)

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        bought = context.bought_leaves
        consumable = bought[isin_few(bought, self.fitted.arrays["consumable_leaf"])]  # np.isin: ~0.1 ms
        if not len(consumable):
            return NO_IDS
        return self.fitted.product_ids[self.fitted.from_leaves(consumable, k)]
