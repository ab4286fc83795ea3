"""The operator's boost and bury rules: a stated move of the target products' ranking score.

A boost adds its ``by`` to each target candidate's adjustment, a bury takes it away, in the
model score's units (rule.py); several rules on one card add up. Each rule's move is kept as one
array (``CandidateSet.noted_moves``), so ``explain`` notes it (``merch_boost`` / ``merch_bury``,
with ``rule_id``, ``delta`` and the rule's reason) on the cards shown without a note per
candidate. The model score itself is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.merchandising.in_force import rule_name, rules_in_force
from ranking.merchandising.targets import Columns, describe, target_mask
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.settings import MerchandisingSettings


@dataclass
class MerchandisingMoves:
    """Boost and bury rules in force for the request (module docstring)."""

    settings: MerchandisingSettings | None = None
    name: str = "merchandising"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        found = rules_in_force(request, self.settings)
        if found is None or not len(cands):
            return
        columns = Columns(snapshot, cands)
        for rule in found.of("boost", "bury"):
            move = rule.action.boost or rule.action.bury
            delta = move.by if rule.action.boost is not None else -move.by
            hit = target_mask(move.target, cands, snapshot, columns)
            if not hit.any():
                continue
            moves = np.where(hit, delta, 0.0)
            cands.adjustments += moves
            note = {"rule": f"merch_{rule.action.kind}", "rule_id": rule_name(rule),
                    "why": f"{rule.reason} ({rule.action.kind} {describe(move.target)} by {move.by:g})"}
            cands.noted_moves.append((note, moves))
