"""The candidates' catalog columns, as rules and selectors read them from the snapshot."""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet


def product_column(snapshot: FeatureSnapshot, cands: CandidateSet, column: str, missing: float = 0.0
                   ) -> np.ndarray:
    """Each candidate's ``column`` of the product table (``missing`` for unknown products, and
    for every candidate when the snapshot has no such column)."""
    products = snapshot.products  # read once: the live catalog swaps the table whole
    if column not in products.columns:
        return np.full(len(cands), missing)
    return products.take_located(column, cands.rows_in(products), missing)


def store_flag(snapshot: FeatureSnapshot, store_ids: np.ndarray, column: str) -> np.ndarray:
    """Whether each store's ``column`` of the store table is set (False when it has none)."""
    if column not in snapshot.stores.columns:
        return np.zeros(len(store_ids), dtype=bool)
    return snapshot.stores.take(column, snapshot.stores.rows(store_ids), missing=0.0) > 0
