"""The pipeline's live-feature provider: the request's live view and the candidates' live
counters, as the columns the registry's ``live`` group reads.

One of the pipeline's ``extra_features`` providers (run in hydrate). It reads the request's
``shopper`` (a :class:`~ranking.live.state.ShopperView`, or None) and ``live_signals`` (the
live state's ``product_signals``, or None), looks the leaf category of the candidates and
of the shopper's items up in the bundle's snapshot, and calls
:func:`ranking.live.features.live_feature_columns` — the one-request form of
``requests_live_columns``, which training calls on its replayed state, so each live feature
has one definition. The candidates' leaf categories are read with one take of a column built once
per products table (:mod:`ranking.pipeline.derived_columns`), through the candidate set's rows.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.live.features import live_feature_columns
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.settings import LiveSettings


def _leaf_categories(category: np.ndarray) -> np.ndarray:
    """Every product's leaf category id (-1 where missing), then an unknown product's (-1): what
    :meth:`LiveFeatures.leaves` reads of each."""
    return np.nan_to_num(np.r_[np.asarray(category).astype(np.float64), -1.0], nan=-1).astype(np.int64)


# per products table, not per request: a row lookup, a take and a NaN pass cost ~40 us a page
LEAF_CATEGORIES = DerivedColumn(_leaf_categories)


class LiveFeatures:
    """``provider(request, cands) -> {live column: per-candidate array}`` over one snapshot."""

    name = "live"

    def __init__(self, snapshot: FeatureSnapshot, settings: LiveSettings) -> None:
        self.snapshot = snapshot
        self.settings = settings

    def leaves(self, product_ids: np.ndarray) -> np.ndarray:
        """Leaf category ids of products (-1 for one the snapshot does not hold)."""
        products = self.snapshot.products  # read once: the live catalog swaps the table whole
        column = LEAF_CATEGORIES.of(products.columns["category_id"])
        return column[products.rows(np.asarray(product_ids, np.int64))]  # row -1: the unknown's -1

    def __call__(self, request: RankRequest, cands: CandidateSet) -> dict[str, np.ndarray]:
        view = request.shopper
        reader = request.live_signals
        signals = reader(cands.product_ids, request.now_ms) if reader is not None and len(cands) else None
        item_leaves = self.leaves(view.items) if view is not None else None
        products = self.snapshot.products  # read once: the live catalog swaps the table whole
        leaves = LEAF_CATEGORIES.candidates(products, cands, products.columns["category_id"])
        return live_feature_columns(view, signals, cands.product_ids, leaves, item_leaves, request.now_ms,
                                    self.settings)
