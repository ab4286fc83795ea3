"""``personal``: items nearest the shopper's taste vector, none they already interacted with.

The taste vector is the weighted mean of the co-interaction embeddings of their recent
strongest items (so new behaviour counts once logged), searched against every item's
vector in the FAISS index.
"""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import NO_IDS, QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext


class Personal(QuotaSource):
    name = "personal"

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        recent = context.recent_items
        if not len(recent):
            return NO_IDS
        vectors = self.fitted.arrays["item_vectors"][recent]
        taste = (vectors * context.recent_weights[:, None]).sum(axis=0, keepdims=True)
        if not taste.any():  # only products listed after the fit (zero vectors): no taste yet
            return NO_IDS
        _, ids = self.fitted.index.search(taste, k + len(recent))
        ids = ids[0][ids[0] >= 0]
        seen = set(self.fitted.product_ids[recent].tolist())
        return np.array([i for i in ids if i not in seen][:k], dtype=np.int64)
