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
from ranking.merchandising.targets import TargetPlan, describe, target_masks
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


def _plan(found: RulesInForce, targets: list) -> TargetPlan:
    """How ``targets`` (:func:`rule_moves`') are read (:class:`TargetPlan`), made once per set of
    rules (read only once made)."""
    made = found.shared.get("target_plan")
    if made is None:
        made = found.shared["target_plan"] = TargetPlan(targets)
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
        hits = target_masks(targets, cands, snapshot, plan=_plan(found, targets))
        # every rule's move per candidate in one np.where (a rule's row: its move where it hits,
        # 0.0 elsewhere, as one np.where per rule made it), then added rule by rule in the conflict
        # order, the rules that hit none skipped: the same sums in the same order
        moved = np.where(hits, _deltas(found, moves)[:, None], 0.0)
        for (_, note), row, any_hit in zip(moves, moved, hits.any(axis=1).tolist(), strict=True):
            if any_hit:
                cands.adjustments += row
                cands.noted_moves.append((note, row))


def _deltas(found: RulesInForce, moves: list[tuple[float, dict]]) -> np.ndarray:
    """The signed moves of :func:`rule_moves` as one float64 column, made once per set of rules."""
    made = found.shared.get("deltas")
    if made is None:
        made = found.shared["deltas"] = np.array([delta for delta, _ in moves], np.float64)
        made.flags.writeable = False  # shared by every request under the rules
    return made
