"""``personal``: items nearest the shopper's taste vector, none they already interacted with.

The taste vector is the weighted mean of the co-interaction embeddings of their recent
strongest items (so new behaviour counts once logged), searched against every item's
vector in the FAISS index.

The list depends only on the shopper's recent items and their weights (and the bundle's item
vectors, which never change after load: a product listed later gets a zero vector and is not in
the index), so it is kept per (recent items, weights, k) once searched (:attr:`Personal.lists`,
bounded): the exact scan of every item vector cost about 0.5 ms a homepage. A shopper whose live
history moved (a click, a purchase) has other recent items, so another key: scanned again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ranking.bounded_memo import BoundedMemo, read_only
from ranking.recall.homepage_sources.base import NO_IDS, QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext

PERSONAL_MEMO = 10_000  # shoppers' lists kept (150 ids and a 240-byte key each: about 17 MB when full)


@dataclass
class Personal(QuotaSource):
    name = "personal"
    # (recent item rows' bytes, their weights' bytes, k) -> the list, read-only
    lists: BoundedMemo = field(default_factory=lambda: BoundedMemo(PERSONAL_MEMO), init=False, repr=False,
                               compare=False)

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        recent = context.recent_items
        if not len(recent):
            return NO_IDS
        weights = np.asarray(context.recent_weights, np.float32)
        key = (np.asarray(recent, np.int64).tobytes(), weights.tobytes(), k)
        return self.lists.kept(key, lambda: read_only(self.search(context, k)))  # oldest out past the size

    def search(self, context: ShopperContext, k: int) -> np.ndarray:
        """The list, scanned: the ``k`` nearest items to the taste vector the shopper has not seen."""
        recent = context.recent_items
        vectors = self.fitted.arrays["item_vectors"][recent]
        taste = (vectors * context.recent_weights[:, None]).sum(axis=0, keepdims=True)
        if not taste.any():  # only products listed after the fit (zero vectors): no taste yet
            return NO_IDS.copy()
        _, ids = self.fitted.index.search(taste, k + len(recent))
        # the ones already seen dropped, in order: a set of ~20 ids and one pass over k + 20 (the
        # mask, isin_few's sort and search and the takes cost about a third more)
        seen = set(self.fitted.product_ids[recent].tolist())
        return np.array([i for i in ids[0].tolist() if i >= 0 and i not in seen][:k], dtype=np.int64)
