"""``personal``: items nearest the shopper's taste vector, none they already interacted with.

The taste vector is the weighted mean of the co-interaction embeddings of their recent
strongest items (so new behaviour counts once logged), searched against every item's
vector in the FAISS index.

The list depends only on the shopper's recent items and their weights (and the bundle's item
vectors, which never change after load: a product listed later gets a zero vector and is not in
the index), so it is kept per (recent items, weights, k) once searched (:attr:`Personal.lists`,
bounded): the exact scan of every item vector cost about 0.5 ms a homepage. A shopper whose live
history moved (a click, a purchase) has other recent items, so another key: scanned again.

Before both, a shopper with no live event yet (their recent items and weights the bundle's own)
reads the list the bundle's build kept for them (:mod:`ranking.recall.taste_lists`, settings
``recall.personal_lists_mb``): the scan's very list, so a shopper's first homepage scans nothing.
A bundle without the lists (an older one, other faiss arithmetic, another quota) scans as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ranking.bounded_memo import BoundedMemo, read_only
from ranking.recall.homepage_sources.base import NO_IDS, QuotaSource
from ranking.recall.homepage_sources.context import ShopperContext
from ranking.recall.taste_lists import taste_vector, unseen

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
        kept = self.fitted.tastes
        if kept is not None and not context.live and context.row >= 0:  # the bundle's own history
            rows = kept.of(context.row, k)
            if rows is not None:
                return read_only(self.fitted.index.ids[rows])
        weights = np.asarray(context.recent_weights, np.float32)
        key = (np.asarray(recent, np.int64).tobytes(), weights.tobytes(), k)
        return self.lists.kept(key, lambda: read_only(self.search(context, k)))  # oldest out past the size

    def search(self, context: ShopperContext, k: int) -> np.ndarray:
        """The list, scanned: the ``k`` nearest items to the taste vector the shopper has not seen."""
        recent = context.recent_items
        taste = taste_vector(self.fitted.arrays["item_vectors"][recent], context.recent_weights)
        if not taste.any():  # only products listed after the fit (zero vectors): no taste yet
            return NO_IDS.copy()
        _, ids = self.fitted.index.search(taste, k + len(recent))
        return np.array(unseen(ids[0], self.fitted.product_ids[recent], k), dtype=np.int64)
