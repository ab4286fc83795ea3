"""Traffic policy, store half: a store's experience score moves its products up or down.

Products of a store scoring at least ``rules.traffic_store_boost_min`` move up by
``rules.traffic_store_boost`` score deviations; those of a store scoring below
``rules.traffic_store_penalty_below`` move down by ``rules.traffic_store_penalty``. Each moved
card says so in ``explain``. The grade half of the policy is placement: the subsidy slots and the
campaign boost take only slot-eligible products (:mod:`ranking.pipeline.traffic_grades`) and
grade D stays below the fold (:mod:`ranking.pipeline.selectors.fold_floor`). With
``rules.traffic_policy`` off nothing moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.traffic_grades import candidate_store_scores
from ranking.settings import RulesSettings


@dataclass
class TrafficPolicy:
    """Store experience score boosts and penalties (module docstring)."""

    settings: RulesSettings
    name: str = "traffic_policy"

    def moves(self, store_scores: np.ndarray, spread: float) -> tuple[np.ndarray, np.ndarray]:
        """Each candidate's move and whether it was boosted (True), penalised (False) or neither
        (the move is 0)."""
        r = self.settings
        known = np.isfinite(store_scores)
        score = np.where(known, store_scores, 0.0)
        boosted = known & (score >= r.traffic_store_boost_min) & (r.traffic_store_boost > 0)
        penalised = known & (score < r.traffic_store_penalty_below) & (r.traffic_store_penalty > 0)
        delta = np.where(boosted, r.traffic_store_boost * spread, 0.0)
        delta = np.where(penalised & ~boosted, -r.traffic_store_penalty * spread, delta)
        return delta, boosted

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if not self.settings.traffic_policy or cands.scores is None or not len(cands):
            return
        stores = candidate_store_scores(snapshot, cands)
        delta, boosted = self.moves(stores, score_spread(cands.scores))
        cands.adjustments += delta
        r = self.settings
        for i in np.flatnonzero(delta != 0):
            why = (f"store score {stores[i]:.0f} (at least {r.traffic_store_boost_min:g}): moved up by the "
                   "traffic policy" if boosted[i] else
                   f"store score {stores[i]:.0f} (below {r.traffic_store_penalty_below:g}): moved down by "
                   "the traffic policy")
            cands.rule_notes[i].append({"rule": self.name, "delta": float(delta[i]), "why": why})
