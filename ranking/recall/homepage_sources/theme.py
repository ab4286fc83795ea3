"""``theme``: best products of the leaves themed at the request's time slot."""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext


class Theme(QuotaSource):
    name = "theme"

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        # the same for every shopper at this slot: kept per availability mask (about 0.1 ms)
        return self.per_mask((context.slot, k))

    def per_mask_value(self, key: tuple[int, int]) -> np.ndarray:
        return self._ids(*key)

    def _ids(self, slot: int, k: int) -> np.ndarray:
        theme_leaves = np.flatnonzero(self.fitted.arrays["leaf_theme_slot"] == slot)
        return self.fitted.product_ids[self.fitted.from_leaves(theme_leaves, k)]
