"""The candidates' catalog columns, as rules and selectors read them from the snapshot."""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet

# the attribute of a CandidateSet holding its product rows, looked up once per candidate set
# and product table: filters, adjusters and selectors read about 18 columns per request, each
# of which looked every candidate up again. Keyed by the table object and the ids array, so a
# swapped table (the live catalog replaces it whole) or another candidate set (``take``) looks
# up anew.
_ROWS = "_product_rows"


def candidate_rows(products: EntityTable, cands: CandidateSet) -> tuple[np.ndarray, np.ndarray]:
    """(row clipped to 0, row known) of each candidate in ``products``, cached on ``cands``."""
    cached = getattr(cands, _ROWS, None)
    if cached is None or cached[0] is not products or cached[1] is not cands.product_ids:
        rows = products.rows(cands.product_ids)
        cached = (products, cands.product_ids, np.maximum(rows, 0), rows >= 0)
        setattr(cands, _ROWS, cached)
    return cached[2], cached[3]


def product_column(snapshot: FeatureSnapshot, cands: CandidateSet, column: str, missing: float = 0.0
                   ) -> np.ndarray:
    """Each candidate's ``column`` of the product table (``missing`` for unknown products, and
    for every candidate when the snapshot has no such column)."""
    products = snapshot.products  # read once: the live catalog swaps the table whole
    if column not in products.columns:
        return np.full(len(cands), missing)
    safe, known = candidate_rows(products, cands)
    # what EntityTable.take gives, from the cached rows
    return np.where(known, products.columns[column][safe].astype(np.float64), missing)


def store_flag(snapshot: FeatureSnapshot, store_ids: np.ndarray, column: str) -> np.ndarray:
    """Whether each store's ``column`` of the store table is set (False when it has none)."""
    if column not in snapshot.stores.columns:
        return np.zeros(len(store_ids), dtype=bool)
    return snapshot.stores.take(column, snapshot.stores.rows(store_ids), missing=0.0) > 0
