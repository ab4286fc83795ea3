"""Demotion: products or stores flagged by governance move down by ``rules.demotion_penalty``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import product_column, store_flag
from ranking.settings import RulesSettings


@dataclass
class Demotion:
    """Products or stores flagged by governance (quality returns far above their category)."""

    settings: RulesSettings
    name: str = "demotion"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if self.settings.demotion_penalty == 0 or cands.scores is None:
            return
        product_flag = product_column(snapshot, cands, "demoted") > 0
        store_ids = product_column(snapshot, cands, "store_id", missing=-1).astype(np.int64)
        hit = product_flag | store_flag(snapshot, store_ids, "demoted")
        delta = -self.settings.demotion_penalty * score_spread(cands.scores)
        cands.adjustments[hit] += delta
        notes = {flag: {"rule": self.name, "delta": delta,  # one per reason, shared by its cards
                        "why": f"{'product' if flag else 'store'} quality returns far above its category"}
                 for flag in (True, False)}
        for i, flag in zip(np.flatnonzero(hit).tolist(), product_flag[hit].tolist(), strict=True):
            cands.rule_notes[i].append(notes[flag])
