"""``theme``: best products of the leaves themed at the request's time slot."""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext


class Theme(QuotaSource):
    name = "theme"

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        theme_leaves = np.flatnonzero(self.fitted.arrays["leaf_theme_slot"] == context.slot)
        return self.fitted.product_ids[self.fitted.from_leaves(theme_leaves, k)]
