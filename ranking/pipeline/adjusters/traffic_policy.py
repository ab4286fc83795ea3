"""Traffic policy, store half: a store's experience score moves its products up or down.

Products of a store scoring at least ``rules.traffic_store_boost_min`` move up by
``rules.traffic_store_boost`` score deviations; those of a store scoring below
``rules.traffic_store_penalty_below`` move down by ``rules.traffic_store_penalty``. Each moved
card says so in ``explain`` (one vector of moves: the notes are made only for the cards
explained). The grade half of the policy is placement: the subsidy slots and the
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

    def moves(self, store_scores: np.ndarray, spread: float) -> np.ndarray:
        """Each candidate's move: up for a store at or above the boost line, down below the
        penalty line, 0 otherwise (and for an unknown store score)."""
        r = self.settings
        known = np.isfinite(store_scores)
        score = np.where(known, store_scores, 0.0)
        boosted = known & (score >= r.traffic_store_boost_min)
        penalised = known & (score < r.traffic_store_penalty_below) & ~boosted
        return np.where(boosted, r.traffic_store_boost * spread,
                        np.where(penalised, -r.traffic_store_penalty * spread, 0.0))

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if not self.settings.traffic_policy or cands.scores is None or not len(cands):
            return
        delta = self.moves(candidate_store_scores(snapshot, cands), score_spread(cands.scores))
        if not delta.any():
            return
        cands.adjustments += delta
        r = self.settings
        # one vector; the notes are made only for the cards explained (CandidateSet.notes)
        cands.rule_moves[self.name] = (
            delta, f"store score at least {r.traffic_store_boost_min:g}: moved up by the traffic policy",
            f"store score below {r.traffic_store_penalty_below:g}: moved down by the traffic policy")
