"""``personal``: items nearest the shopper's taste vector, none they already interacted with.

The taste vector is the weighted mean of the co-interaction embeddings of their recent
strongest items (so new behaviour counts once logged), searched against every item's
vector in the FAISS index.
"""

from __future__ import annotations

import numpy as np

from ranking.membership import isin_few
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
        # the ones already seen dropped, in order (a mask, not a Python loop over k + 20 ids;
        # isin_few: np.isin built a table over the id range, about 0.1 ms a call)
        return ids[~isin_few(ids, self.fitted.product_ids[recent])][:k].astype(np.int64)
