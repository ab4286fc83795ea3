"""Exploration slots: homepage positions given to a product of a new store, drawn at random.

Positions from settings ``rules.exploration_slots`` get a product drawn uniformly from
the ``rules.exploration_pool`` best new-store candidates; its propensity (1 / pool size)
is logged with the impression so counterfactual evaluation can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import store_flag
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.pipeline.selectors.draft import PageDraft
from ranking.settings import RulesSettings


def _product_new_stores(store_ids: np.ndarray, stores: EntityTable, flags: np.ndarray | None) -> np.ndarray:
    """Whether every product's store is new (:func:`store_flag` of its ``store_id`` read as
    ``product_column`` reads it), then an unknown product's (store -1)."""
    ids = np.r_[np.asarray(store_ids).astype(np.float64), -1].astype(np.int64)
    if flags is None:
        return np.zeros(len(ids), dtype=bool)
    return stores.take("new_store", stores.rows(ids), missing=0.0) > 0  # store_flag's test


# per product, kept while the store ids, the store table and its flags are the same arrays
# (ranking/pipeline/derived_columns.py): a homepage looked its ~500 candidates' stores up (~15 us)
NEW_STORE_OF_PRODUCTS = DerivedColumn(_product_new_stores)


def _new_store_candidates(snapshot: FeatureSnapshot, cands: CandidateSet, page: PageDraft) -> np.ndarray:
    """Whether each candidate's store is new: :func:`store_flag` of ``page.stores``, gathered."""
    products, stores = snapshot.products, snapshot.stores  # read once: the live catalog swaps them whole
    if "store_id" not in products.columns:
        return store_flag(snapshot, page.stores, "new_store")
    return NEW_STORE_OF_PRODUCTS.candidates(products, cands, products.columns["store_id"], stores,
                                            stores.columns.get("new_store"))


@dataclass
class ExplorationSlots:
    """New-store exploration on the homepage (see the module docstring)."""

    settings: RulesSettings
    name: str = "exploration"

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        if request.surface != "homepage" or not self.settings.exploration_slots:
            return
        new = _new_store_candidates(snapshot, cands, page)
        for slot in self.settings.exploration_slots:
            if not page.is_open(slot):
                continue
            pool = page.order[new[page.order] & ~page.used[page.order]][: self.settings.exploration_pool]
            if not len(pool):
                break
            r = int(pool[int(rng.integers(len(pool)))])
            page.put(slot - 1, r, 1.0 / len(pool))
            cands.rule_notes[r].append({
                "rule": self.name, "position": slot, "propensity": 1.0 / len(pool),
                "why": f"new-store exploration slot, drawn from {len(pool)} candidates"})
