"""``category``: a category page's own recall: the category's products by a prior, no query.

A category page (``POST /v1/channel/category/{id}``) browses a leaf or a top-level category
(``RankRequest.category_id``): this source hands out the category's available products (in
stock, not banned) by the prior product score x (1 + popularity), at most
``channels.category_candidates``; the homepage's personal sources, restricted to the category
(:class:`InCategory`), add what this shopper's history and live view point to. The model
ranks the union as on any surface.

The prior order is computed once per product table; a request then takes the category's rows
from it with one vectorised comparison.
"""

from __future__ import annotations

import threading

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import RankRequest
from ranking.pipeline.pipeline import CandidateSource
from ranking.settings import ChannelSettings

NO_IDS = np.zeros(0, dtype=np.int64)


def _column(table, name: str, default: float) -> np.ndarray:
    values = table.columns.get(name)
    return np.full(len(table.ids), default) if values is None else np.asarray(values, dtype=np.float64)


def in_category(snapshot: FeatureSnapshot, product_ids: np.ndarray, category_id: int) -> np.ndarray:
    """Whether each product's leaf or top-level category is ``category_id``."""
    products = snapshot.products
    rows = products.rows(np.asarray(product_ids, dtype=np.int64))
    leaf = products.take("category_id", rows, missing=-1)
    top = products.take("top_category_id", rows, missing=-1) if "top_category_id" in products.columns \
        else np.full(len(rows), -1.0)
    return (leaf == category_id) | (top == category_id)


class CategoryBrowse:
    """The category's available products, best prior first."""

    name = "category"

    def __init__(self, snapshot: FeatureSnapshot, settings: ChannelSettings) -> None:
        self.snapshot = snapshot
        self.settings = settings
        self._lock = threading.Lock()
        self._cached: tuple[object, np.ndarray, np.ndarray, np.ndarray] | None = None

    def _ordered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows by prior, their leaf, their top category), available products only."""
        products = self.snapshot.products
        with self._lock:
            cached = self._cached
            if cached is not None and cached[0] is products:
                return cached[1], cached[2], cached[3]
            score = np.nan_to_num(_column(products, "product_score", 0), nan=0.0)
            popularity = np.nan_to_num(_column(products, "product_popularity", 0), nan=0.0)
            available = (_column(products, "stock", 1) > 0) & (_column(products, "banned", 0) == 0)
            rows = np.flatnonzero(available)
            rows = rows[np.argsort(-(score * (1.0 + popularity))[rows], kind="stable")]
            leaf = _column(products, "category_id", -1)[rows]
            top = _column(products, "top_category_id", -1)[rows]
            self._cached = (products, rows, leaf, top)
            return rows, leaf, top

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        if request.category_id is None:
            return NO_IDS, np.zeros(0)
        rows, leaf, top = self._ordered()
        hit = rows[(leaf == request.category_id) | (top == request.category_id)]
        hit = hit[: min(k, self.settings.category_candidates)]
        return self.snapshot.products.ids[hit].astype(np.int64), -np.arange(len(hit), dtype=np.float64)


class InCategory:
    """Another source (a homepage one) restricted to the request's category, under its own name."""

    def __init__(self, source: CandidateSource, snapshot: FeatureSnapshot) -> None:
        self.source = source
        self.name = source.name
        self.snapshot = snapshot
        # as cheap as the source (the pipeline hops only costly sources to its recall pool:
        # the homepage's are not, and ten of them went there on a category page)
        self.pooled = getattr(source, "pooled", True)

    def recall(self, request: RankRequest, k: int) -> tuple[np.ndarray, np.ndarray]:
        if request.category_id is None:
            return NO_IDS, np.zeros(0)
        ids, scores = self.source.recall(request, k)
        keep = in_category(self.snapshot, ids, request.category_id)
        return np.asarray(ids, dtype=np.int64)[keep], np.asarray(scores, dtype=np.float64)[keep]
