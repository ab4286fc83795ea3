"""``subsidy_channel``: the big-brand subsidy channel's own recall (大牌大补), its eligibility rule.

A product may be shown on the channel (:func:`subsidy_eligible`) when it is in the subsidy
programme (``subsidy``), its brand is of the ``big_brand`` tier, its store's experience score
is at least ``channels.subsidy_min_store_score``, it is in stock and not banned, and, when
``channels.subsidy_requires_authentic`` and the mall records the authenticity guarantee (some
product has it), it carries the guarantee (假一赔九). The source hands out the eligible products
by merit (product score, then subsidy depth), each with its ``subsidy_depth`` as its source
score, so ranking sees the depth; the model then ranks them as on any surface.

The mask is computed once per product table (the live catalog swaps the table whole when a
price, stock or ban changes, so a change is seen at the next request).
"""

from __future__ import annotations

import threading

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import RankRequest
from ranking.settings import ChannelSettings


def _column(table, name: str, default: float) -> np.ndarray:
    values = table.columns.get(name)
    return np.full(len(table.ids), default) if values is None else np.asarray(values, dtype=np.float64)


def subsidy_eligible(snapshot: FeatureSnapshot, settings: ChannelSettings) -> np.ndarray:
    """Per row of ``snapshot.products``: whether the subsidy channel may show it (module docstring)."""
    products, stores = snapshot.products, snapshot.stores
    ok = (_column(products, "subsidy", 0) > 0) & (_column(products, "big_brand", 0) > 0)
    ok &= (_column(products, "stock", 1) > 0) & (_column(products, "banned", 0) == 0)
    if "store_banned" in products.columns:
        ok &= _column(products, "store_banned", 0) == 0
    store_rows = stores.rows(_column(products, "store_id", -1).astype(np.int64))
    store_score = stores.take("store_experience_score", store_rows, missing=np.nan)
    ok &= store_score >= settings.subsidy_min_store_score
    authentic = _column(products, "authentic_guarantee", 0) > 0
    if settings.subsidy_requires_authentic and authentic.any():
        ok &= authentic
    return ok


class SubsidyChannel:
    """The subsidy channel's candidates: eligible products by merit, scored by subsidy depth."""

    name = "subsidy_channel"

    def __init__(self, snapshot: FeatureSnapshot, settings: ChannelSettings) -> None:
        self.snapshot = snapshot
        self.settings = settings
        self._lock = threading.Lock()
        self._cached: tuple[object, object, np.ndarray] | None = None

    def ranked_rows(self) -> np.ndarray:
        """Rows of the eligible products, best merit first (cached per product and store table)."""
        products, stores = self.snapshot.products, self.snapshot.stores
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] is products and cached[1] is stores:
                return cached[2]
            rows = np.flatnonzero(subsidy_eligible(self.snapshot, self.settings))
            merit = _column(products, "product_score", 0)[rows]
            depth = _column(products, "subsidy_depth", 0)[rows]
            rows = rows[np.lexsort((-depth, -np.nan_to_num(merit, nan=-1.0)))]
            self._cached = (products, stores, rows)
            return rows

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        products = self.snapshot.products
        rows = self.ranked_rows()[: min(k, self.settings.subsidy_candidates)]
        return products.ids[rows].astype(np.int64), _column(products, "subsidy_depth", 0)[rows]
