"""``similar``: nearest items to the shopper's strongest few, each listed once, never a seed.

A seed's neighbours are the same for every request of a bundle (the item vectors and their
index never change after load: a product listed later gets a zero vector, never a seed). A
bundle built with them keeps every item's list beside its index (``VectorIndex.kept_neighbours``,
:mod:`ranking.recall.row_neighbours`: faiss's own answers, computed at build), so a shopper's first
homepage reads its seeds' lists. A seed without one (an older bundle, other faiss arithmetic, a
quota above the lists' or a tie at its ``k``-th place) is searched, and its FAISS row kept once
searched (:attr:`Similar.neighbours`, bounded): the scan of every item vector cost about 0.3 ms a
seed, three seeds a homepage. The default mall's 20,000 users have about 10,000 distinct seeds
among them, so the memo holds them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ranking.bounded_memo import BoundedMemo
from ranking.recall.homepage_sources.base import NO_IDS, QuotaSource, array_key
from ranking.recall.homepage_sources.context import ShopperContext

SIMILAR_SEEDS = 3  # the user's strongest recent items whose neighbours "similar" lists
SEED_MEMO = 20_000  # seeds whose neighbour rows are kept (83 ids each: about 13 MB when full)


@dataclass
class Similar(QuotaSource):
    name = "similar"
    # (seed row, k) -> the seed's FAISS row of k ids, as one search of the seeds returns it
    # (faiss answers each query alone below 20 queries: stacked or not, row for row the same)
    neighbours: BoundedMemo = field(default_factory=lambda: BoundedMemo(SEED_MEMO), init=False, repr=False,
                                    compare=False)

    def list_key(self, context: ShopperContext, k: int) -> tuple:  # what the list reads
        return array_key(k, context.recent_items[:SIMILAR_SEEDS])

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        seeds = context.recent_items[:SIMILAR_SEEDS]
        vectors = self.fitted.arrays["item_vectors"][seeds]
        # a product listed after the fit has no co-interactions yet (a zero vector): no seed
        has_vector = vectors.any(axis=1)
        seeds, vectors = seeds[has_vector], vectors[has_vector]
        if not len(seeds):
            return NO_IDS
        # each seed's list alone can fill the quota, since the seeds themselves and the
        # neighbours two seeds share are dropped
        return interleaved(self.neighbour_rows(seeds, vectors, k + len(seeds)),
                           self.fitted.product_ids[seeds], k)

    def neighbours_of(self, seeds: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
        """The ids of each seed's ``k`` nearest items (seeds x k, -1 pads), as
        ``index.search(vectors, k)`` returns them: the seeds not kept yet searched together."""
        return np.stack(self.neighbour_rows(seeds, vectors, k))

    def neighbour_rows(self, seeds: np.ndarray, vectors: np.ndarray, k: int) -> list[np.ndarray]:
        """:meth:`neighbours_of`'s rows, one read-only array per seed (not stacked): the bundle's
        kept lists, else the memo's, else searched (a seed's row is its index row: the index holds
        the item vectors in product-row order)."""
        keys = [(row, k) for row in seeds.tolist()]
        rows = self.fitted.index.kept_neighbours([row for row, _ in keys], k)
        rows = [row if row is not None else self.neighbours.get(key)
                for row, key in zip(rows, keys, strict=True)]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            _, found = self.fitted.index.search(vectors[missing], k)
            for i, row in zip(missing, found, strict=True):
                row.flags.writeable = False
                rows[i] = self.neighbours.put(keys[i], row)  # the oldest out past SEED_MEMO
        return rows


def interleaved(ids: list[np.ndarray], seed_ids: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` ids of the seeds' neighbour rows (as long, -1 pads): each seed's nearest
    ``k // seeds + 2`` in turn, then the rest column by column; no seed, -1 or repeat (the first
    place kept). On three rows of ~80 ids, Python lists do it in a third of the numpy calls' time
    (stack, concatenate, a mask, ``isin_few``, ``np.unique``, a sort: about 0.1 ms a homepage), and
    the rest is read only when the heads leave places (the first ``k`` distinct ids of a prefix are
    the whole order's)."""
    rows = [row.tolist() for row in ids]
    share = k // len(rows) + 2
    dropped = {-1, *seed_ids.tolist()}
    heads = [i for row in rows for i in row[:share]]
    kept = [i for i in dict.fromkeys(heads) if i not in dropped]
    if len(kept) < k:  # the heads alone (a prefix of the order) leave places: the rest, column by column
        seen = dropped.union(heads)  # what the heads placed or dropped, not read again
        rest = [row[j] for j in range(share, len(rows[0])) for row in rows]
        kept += [i for i in dict.fromkeys(rest) if i not in seen]
    return np.array(kept[:k], dtype=np.int64)
