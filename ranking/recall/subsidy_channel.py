"""``subsidy_channel``: the big-brand subsidy channel's own recall (大牌大补), its eligibility rule.

A product may be shown on the channel (:func:`subsidy_eligible`) when it is in the subsidy
programme (``subsidy``), its brand is of the ``big_brand`` tier, its store's experience score
is at least ``channels.subsidy_min_store_score``, it is in stock and not banned, and, when
``channels.subsidy_requires_authentic`` and the mall records the authenticity guarantee (some
product has it), it carries the guarantee (假一赔九). The source hands out the eligible products
by merit (product score, then subsidy depth), each with its ``subsidy_depth`` as its source
score, so ranking sees the depth; the model then ranks them as on any surface.

The eligible rows by merit are computed once per version of the columns they read (a
:class:`~ranking.pipeline.derived_columns.DerivedColumn`: the live catalog swaps the table whole
when a price, stock or ban changes, with the changed columns new objects, and builds the new rows
before it swaps the table in: ``ranking/live/catalog_tables.py``), so a change is seen at the next
request and the first subsidy page after it builds nothing.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import RankRequest
from ranking.pipeline.derived_columns import DerivedColumn, or_default
from ranking.settings import ChannelSettings

# the product columns eligibility reads, in :func:`_eligible`'s order after ``ids``
ELIGIBILITY_COLUMNS = ("subsidy", "big_brand", "stock", "banned", "store_banned", "store_id",
                       "authentic_guarantee")


def _eligible(ids: np.ndarray, subsidy: np.ndarray | None, big_brand: np.ndarray | None,
              stock: np.ndarray | None, banned: np.ndarray | None, store_banned: np.ndarray | None,
              store_id: np.ndarray | None, authentic: np.ndarray | None, stores,
              min_store_score: float, requires_authentic: bool) -> np.ndarray:
    """Per product row: whether the subsidy channel may show it (a missing column: its default)."""
    n = len(ids)
    ok = (or_default(subsidy, n, 0) > 0) & (or_default(big_brand, n, 0) > 0)
    ok &= (or_default(stock, n, 1) > 0) & (or_default(banned, n, 0) == 0)
    if store_banned is not None:
        ok &= or_default(store_banned, n, 0) == 0
    store_rows = stores.rows(or_default(store_id, n, -1).astype(np.int64))
    store_score = stores.take("store_experience_score", store_rows, missing=np.nan)
    ok &= store_score >= min_store_score
    guaranteed = or_default(authentic, n, 0) > 0
    if requires_authentic and guaranteed.any():
        ok &= guaranteed
    return ok


def subsidy_eligible(snapshot: FeatureSnapshot, settings: ChannelSettings) -> np.ndarray:
    """Per row of ``snapshot.products``: whether the subsidy channel may show it (module docstring)."""
    products = snapshot.products
    return _eligible(products.ids, *map(products.columns.get, ELIGIBILITY_COLUMNS), snapshot.stores,
                     settings.subsidy_min_store_score, settings.subsidy_requires_authentic)


def _ranked(score: np.ndarray | None, depth: np.ndarray | None, ids: np.ndarray, *eligibility) -> np.ndarray:
    """Rows of the eligible products (``ids`` and ``eligibility``: :func:`_eligible`'s sources), best
    merit (product score, then subsidy depth) first."""
    rows = np.flatnonzero(_eligible(ids, *eligibility))
    n = len(ids)
    merit, by_depth = or_default(score, n, 0)[rows], or_default(depth, n, 0)[rows]
    return rows[np.lexsort((-by_depth, -np.nan_to_num(merit, nan=-1.0)))]


# kept per version of every column, the store table and the two settings it reads (read whole:
# not a per-product column plus the unknown's value, as ``DerivedColumn`` usually holds)
RANKED_ROWS = DerivedColumn(_ranked, ("product_score", "subsidy_depth", "ids", *ELIGIBILITY_COLUMNS))


class SubsidyChannel:
    """The subsidy channel's candidates: eligible products by merit, scored by subsidy depth."""

    name = "subsidy_channel"

    def __init__(self, snapshot: FeatureSnapshot, settings: ChannelSettings) -> None:
        self.snapshot = snapshot
        self.settings = settings

    def ranked_rows(self) -> np.ndarray:
        """Rows of the eligible products, best merit first (kept per version of what they read)."""
        snap, settings = self.snapshot, self.settings
        products = snap.products
        column = products.columns.get
        return RANKED_ROWS.of(column("product_score"), column("subsidy_depth"), products.ids,
                              *map(column, ELIGIBILITY_COLUMNS), snap.stores,
                              settings.subsidy_min_store_score, settings.subsidy_requires_authentic)

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        products = self.snapshot.products
        rows = self.ranked_rows()[: min(k, self.settings.subsidy_candidates)]
        return products.ids[rows].astype(np.int64), or_default(products.columns.get("subsidy_depth"),
                                                               len(products.ids), 0)[rows]
