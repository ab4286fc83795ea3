"""``similar``: nearest items to the shopper's strongest few, each listed once, never a seed."""

from __future__ import annotations

import numpy as np

from ranking.membership import isin_few
from ranking.recall.homepage_sources.base import NO_IDS, QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext

SIMILAR_SEEDS = 3  # the user's strongest recent items whose neighbours "similar" lists


class Similar(QuotaSource):
    name = "similar"

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        seeds = context.recent_items[:SIMILAR_SEEDS]
        vectors = self.fitted.arrays["item_vectors"][seeds]
        # a product listed after the fit has no co-interactions yet (a zero vector): no seed
        seeds, vectors = seeds[vectors.any(axis=1)], vectors[vectors.any(axis=1)]
        if not len(seeds):
            return NO_IDS
        # each seed's list alone can fill the quota, since the seeds themselves and the
        # neighbours two seeds share are dropped
        _, ids = self.fitted.index.search(vectors, k + len(seeds))
        share = k // len(seeds) + 2  # each seed's nearest, in turn; then the rest
        flat = np.concatenate([ids[:, :share].ravel(), ids[:, share:].T.ravel()])
        flat = flat[(flat >= 0) & ~isin_few(flat, self.fitted.product_ids[seeds])]
        _, first = np.unique(flat, return_index=True)  # two seeds' shared neighbours once
        return flat[np.sort(first)][:k]
