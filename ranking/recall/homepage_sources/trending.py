"""``trending``: recency-weighted sales velocity, half the quota from the shopper's
favourite leaves first (when known), then the mall's."""

from __future__ import annotations

import numpy as np

from ranking.recall.homepage_sources.base import QuotaSource, array_key
from ranking.recall.homepage_sources.context import ShopperContext

TRENDING_HEAD = 50  # the user's categories are looked for in the top 50 x quota trending items


class Trending(QuotaSource):
    name = "trending"

    def list_key(self, context: ShopperContext, k: int) -> tuple:  # what the list reads
        return array_key(k, context.top_leaves)

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        trending, leaves, top_leaf = self.per_mask(k)
        if len(context.top_leaves):
            # a table over the leaves (-1, no leaf, reads the extra last entry, never set) instead
            # of comparing 50 x quota leaves with each favourite one: np.isin's answer, in ~10 us
            favourite = np.zeros(max(top_leaf, int(context.top_leaves.max())) + 2, bool)
            favourite[context.top_leaves] = True
            mine = favourite[leaves]
            return self.fitted.product_ids[trending[favourites_first(mine, k)]]
        return self.fitted.product_ids[trending[:k]]

    def per_mask_value(self, key: int) -> tuple[np.ndarray, np.ndarray, int]:
        return self._head(key)

    def _head(self, k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The head's rows, their leaves and the largest leaf: the same for every shopper until
        the mask changes, so kept per mask (taking them per request, and np.isin's table over
        the leaves, cost about 0.2 ms a homepage). The head is enough; the whole list is the
        catalog."""
        rows = self.fitted.head("trending", TRENDING_HEAD * k)
        leaves = self.fitted.arrays["product_leaf"][rows]
        return rows, leaves, int(leaves.max(initial=0))


def favourites_first(mine: np.ndarray, k: int) -> np.ndarray:
    """Places in the head: the first ``k // 2`` where ``mine`` (a favourite leaf), then the first of
    the others up to ``k`` in all: ``np.concatenate([places[mine][:k // 2], places[~mine]])[:k]``.
    The others are looked for in the head's first ``2k`` places (nearly always enough: three
    favourite leaves of ~35), the whole head only when those fall short (the whole head's
    mask and gathers cost about a third of the source's time)."""
    first = np.flatnonzero(mine)[: k // 2]
    need = k - len(first)
    near = min(len(mine), 2 * k)
    others = np.flatnonzero(~mine[:near])[:need]
    if len(others) < need and near < len(mine):
        others = np.flatnonzero(~mine)[:need]
    return np.concatenate([first, others])
