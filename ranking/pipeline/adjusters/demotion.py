"""Demotion: products or stores flagged by governance move down by ``rules.demotion_penalty``.

Which products are flagged, and why (the product itself, else its store), is one code per
product built once per version of the columns it reads (:mod:`ranking.pipeline.derived_columns`),
not looked up per request (the product and store columns and the store rows: about 30 us a page).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.settings import RulesSettings

PRODUCT, STORE = 1, 2  # a flagged product's code: its own flag, or (only) its store's (notes by code)


def _demotion_codes(product_ids: np.ndarray, product_demoted: np.ndarray | None,
                    store_ids: np.ndarray | None, stores: EntityTable, store_demoted: np.ndarray | None
                    ) -> np.ndarray:
    """Every product's code (0 not flagged, :data:`PRODUCT`, :data:`STORE`), then an unknown
    product's (0), read as ``product_column`` and ``store_flag`` read a candidate's."""
    n = len(product_ids)
    flagged = np.zeros(n + 1, bool)
    if product_demoted is not None:
        flagged[:n] = np.asarray(product_demoted).astype(np.float64) > 0
    ids = np.full(n + 1, -1, np.int64)
    if store_ids is not None:  # as product_column reads it (float64, missing -1), then as ints
        ids = np.r_[np.asarray(store_ids).astype(np.float64), -1].astype(np.int64)
    store = np.zeros(n + 1, bool)
    if store_demoted is not None:
        store = stores.take("demoted", stores.rows(ids), missing=0.0) > 0
    return np.where(flagged, PRODUCT, np.where(store, STORE, 0)).astype(np.int8)


DEMOTION_CODES = DerivedColumn(_demotion_codes)


@dataclass
class Demotion:
    """Products or stores flagged by governance (quality returns far above their category)."""

    settings: RulesSettings
    name: str = "demotion"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if self.settings.demotion_penalty == 0 or cands.scores is None:
            return
        products, stores = snapshot.products, snapshot.stores  # read once: swapped whole
        codes = DEMOTION_CODES.candidates(products, cands, products.ids, products.columns.get("demoted"),
                                          products.columns.get("store_id"), stores,
                                          stores.columns.get("demoted"))
        hit = codes > 0
        if not hit.any():
            return
        delta = -self.settings.demotion_penalty * score_spread(cands.scores)
        np.add(cands.adjustments, delta, out=cands.adjustments, where=hit)
        # one note per reason, shared by its cards, named by the codes themselves (0: none, then
        # PRODUCT, STORE): RuleNotes.append_coded, not a list and a dict of the flagged rows
        notes = [None, *({"rule": self.name, "delta": delta, "why": f"{whose} quality returns far above "
                          "its category"} for whose in ("product", "store"))]
        cands.rule_notes.append_coded(codes, notes)
