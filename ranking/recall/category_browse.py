"""``category``: a category page's own recall: the category's products by a prior, no query.

A category page (``POST /v1/channel/category/{id}``) browses a leaf or a top-level category
(``RankRequest.category_id``): this source hands out the category's available products (in
stock, not banned, not of a banned store) by the prior product score x (1 + popularity), at most
``channels.category_candidates``; the homepage's personal sources, restricted to the category
(:class:`InCategory`), add what this shopper's history and live view point to. The model
ranks the union as on any surface.

The prior order of every product is computed once per version of the prior's columns (the scores,
which no live catalog change touches) and the available products' rows in that order once per
version of the availability columns (:class:`~ranking.pipeline.derived_columns.DerivedColumn`s),
so the live catalog builds the new rows before it swaps a changed table in
(``ranking/live/catalog_tables.py``) with one take, not a sort, and the first category page after
a change builds nothing (at 50,000 products it sorted every available product again: ~5 ms); a
request then takes the category's rows from them with one vectorised comparison.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import RankRequest
from ranking.pipeline.derived_columns import DerivedColumn, or_default
from ranking.pipeline.pipeline import CandidateSource
from ranking.settings import ChannelSettings

NO_IDS = np.zeros(0, dtype=np.int64)


def _prior_order(ids: np.ndarray, score: np.ndarray | None, popularity: np.ndarray | None) -> np.ndarray:
    """Every product row by the prior, product score x (1 + popularity), best first (ties: by row)."""
    n = len(ids)
    score = np.nan_to_num(or_default(score, n, 0), nan=0.0)
    popularity = np.nan_to_num(or_default(popularity, n, 0), nan=0.0)
    return np.argsort(-(score * (1.0 + popularity)), kind="stable")


def _available_by_prior(ids: np.ndarray, score: np.ndarray | None, popularity: np.ndarray | None,
                        stock: np.ndarray | None, banned: np.ndarray | None, store_banned: np.ndarray | None,
                        leaf: np.ndarray | None, top: np.ndarray | None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(the available products' rows in prior order, their leaf, their top category): in stock, not
    banned and not of a banned store (governance would drop them after recall, leaving their places
    in ``channels.category_candidates`` to nobody); the rows a stable sort of the available rows
    alone gives, ties by row as well. It reads the prior order
    through :data:`PRIOR_ORDER` itself, so its sources are columns only: the live catalog's
    ``build_replacing`` then rebuilds it from the new columns, never from a swapped-out order."""
    n = len(ids)
    order = PRIOR_ORDER.of(ids, score, popularity)
    available = (or_default(stock, n, 1) > 0) & (or_default(banned, n, 0) == 0) \
        & (or_default(store_banned, n, 0) == 0)
    rows = order[available[order]]
    return rows, or_default(leaf, n, -1)[rows], or_default(top, n, -1)[rows]


# kept per version of the columns they read (not a per-product column plus the unknown's value as
# ``DerivedColumn`` usually holds: an order and a tuple, read whole), shared by every category page
PRIOR_ORDER = DerivedColumn(_prior_order)
AVAILABLE_BY_PRIOR = DerivedColumn(_available_by_prior)


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

    def _ordered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows by prior, their leaf, their top category), available products only."""
        products = self.snapshot.products
        column = products.columns.get
        return AVAILABLE_BY_PRIOR.of(products.ids, column("product_score"), column("product_popularity"),
                                     column("stock"), column("banned"), column("store_banned"),
                                     column("category_id"), column("top_category_id"))

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
