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
from ranking.merchandising.in_force import RulesInForce, rule_name, rules_in_force
from ranking.merchandising.targets import describe, target_masks
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.settings import MerchandisingSettings


def rule_moves(found: RulesInForce) -> tuple[list, list[tuple[float, dict]]]:
    """Each boost and bury rule in force: its target, and its signed move with the note naming
    it, made once per set of rules (``found.shared``: every request under the same rules reads
    them; a note is never changed, ``CandidateSet.notes`` copies it for a card)."""
    made = found.shared.get("moves")
    if made is None:
        targets, moves = [], []
        for rule in found.of("boost", "bury"):
            move, kind = rule.action.boost or rule.action.bury, rule.action.kind
            targets.append(move.target)
            moves.append((move.by if rule.action.boost is not None else -move.by,
                          {"rule": f"merch_{kind}", "rule_id": rule_name(rule),
                           "why": f"{rule.reason} ({kind} {describe(move.target)} by {move.by:g})"}))
        made = found.shared["moves"] = (targets, moves)
    return made


@dataclass
class MerchandisingMoves:
    """Boost and bury rules in force for the request (module docstring)."""

    settings: MerchandisingSettings | None = None
    name: str = "merchandising"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        found = rules_in_force(request, self.settings)
        if found is None or not len(cands):
            return
        targets, moves = rule_moves(found)
        if not targets:
            return
        hits = target_masks(targets, cands, snapshot)
        for (delta, note), hit, any_hit in zip(moves, hits, hits.any(axis=1).tolist(), strict=True):
            if not any_hit:
                continue
            moved = np.where(hit, delta, 0.0)
            cands.adjustments += moved  # rule by rule, in the conflict order: the same sums
            cands.noted_moves.append((note, moved))
