"""The governance filter: banned products, products of banned stores and products without stock
are never shown (read from the snapshot's product columns, which the live catalog overlays:
ranking/live/catalog_overlay.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import product_column
from ranking.pipeline.filters.reasons import drop
from ranking.settings import RulesSettings


@dataclass
class Governance:
    """Banned products (and every product of a banned store) and products without stock are
    never shown (``rules.drop_banned``, ``rules.drop_out_of_stock``)."""

    settings: RulesSettings
    name: str = "governance"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        reason = np.full(len(cands), "", dtype=object)
        keep = np.ones(len(cands), dtype=bool)  # from the masks: comparing the reasons costs more
        if self.settings.drop_out_of_stock:
            drop(keep, reason, product_column(snapshot, cands, "stock", missing=1.0) <= 0, "out_of_stock")
        if self.settings.drop_banned:
            drop(keep, reason, product_column(snapshot, cands, "store_banned") > 0, "store_banned")
            drop(keep, reason, product_column(snapshot, cands, "banned") > 0, "banned")
        return keep, reason
