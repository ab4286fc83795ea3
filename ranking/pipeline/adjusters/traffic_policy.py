"""Traffic policy, store half: a store's experience score moves its products up or down.

Products of a store scoring at least ``rules.traffic_store_boost_min`` move up by
``rules.traffic_store_boost`` score deviations; those of a store scoring below
``rules.traffic_store_penalty_below`` move down by ``rules.traffic_store_penalty``. Each moved
card says so in ``explain`` (one vector of moves: the notes are made only for the cards
explained). Which products move up or down is one code per product, kept per products table,
store table and lines (:data:`MOVE_CODES`) and read for a request's candidates with one take.
The grade half of the policy is placement: the subsidy slots and the campaign boost take only
slot-eligible products (:mod:`ranking.pipeline.traffic_grades`) and grade D stays below the
fold (:mod:`ranking.pipeline.selectors.fold_floor`). With ``rules.traffic_policy`` off nothing
moves.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.pipeline.traffic_grades import STORE_SCORES_OF_PRODUCTS
from ranking.settings import RulesSettings

UP, DOWN = 1, 2  # a product's move code (0: none)


@functools.lru_cache(maxsize=64)
def store_lines(boost_min: float, penalty_below: float) -> tuple[float, float]:
    """The boost and penalty lines as one object per value (a derived column's source, compared by
    identity)."""
    return boost_min, penalty_below


def _move_codes(store_ids: np.ndarray, stores: EntityTable, scores: np.ndarray | None,
                lines: tuple[float, float]) -> np.ndarray:
    """Every product's move code, then an unknown product's: :data:`UP` for a store score at or
    above the boost line, :data:`DOWN` below the penalty line (not both), 0 otherwise or unknown."""
    store_scores = STORE_SCORES_OF_PRODUCTS.of(store_ids, stores, scores)
    boost_min, penalty_below = lines
    known = np.isfinite(store_scores)
    score = np.where(known, store_scores, 0.0)
    boosted = known & (score >= boost_min)
    penalised = known & (score < penalty_below) & ~boosted
    return np.where(boosted, UP, np.where(penalised, DOWN, 0)).astype(np.int8)


# kept while the store column, the store table's scores and the lines are the same objects
MOVE_CODES = DerivedColumn(_move_codes)


@dataclass
class TrafficPolicy:
    """Store experience score boosts and penalties (module docstring)."""

    settings: RulesSettings
    name: str = "traffic_policy"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if not self.settings.traffic_policy or cands.scores is None or not len(cands):
            return
        products, stores = snapshot.products, snapshot.stores  # read once: swapped whole
        if "store_id" not in products.columns:  # every store score unknown: nothing moves
            return
        r = self.settings
        codes = MOVE_CODES.candidates(products, cands, products.columns["store_id"], stores,
                                      stores.columns.get("store_experience_score"),
                                      store_lines(r.traffic_store_boost_min, r.traffic_store_penalty_below))
        if not codes.any():
            return
        spread = score_spread(cands.scores)
        # by code: up or down by the boost or penalty deviations, 0 otherwise
        delta = np.array([0.0, r.traffic_store_boost * spread, -r.traffic_store_penalty * spread])[codes]
        if not delta.any():
            return
        cands.adjustments += delta
        # one vector; the notes are made only for the cards explained (CandidateSet.notes)
        cands.rule_moves[self.name] = (
            delta, f"store score at least {r.traffic_store_boost_min:g}: moved up by the traffic policy",
            f"store score below {r.traffic_store_penalty_below:g}: moved down by the traffic policy")
