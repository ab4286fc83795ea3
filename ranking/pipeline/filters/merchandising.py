"""The operator's hide and filter rules: candidates removed before hydration, each naming its rule.

``hide`` removes the rule's products (reason ``rule_hide:<id>``); ``filter`` keeps only a category's
(leaf or top) or a brand's products (the others: ``rule_filter:<id>``). Hides come first, then
filters, in the conflict order (:mod:`ranking.merchandising.rule_index`): a candidate removed by
several rules names the first. No rule in force: nothing is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.merchandising.in_force import REASON_PREFIX, STAGE, rule_name, rules_in_force
from ranking.merchandising.targets import Columns, among, target_mask
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.filters.reasons import drop, no_reasons
from ranking.settings import MerchandisingSettings


@dataclass
class MerchandisingFilter:
    """Hide and filter rules in force for the request (module docstring)."""

    settings: MerchandisingSettings | None = None
    name: str = STAGE

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        found = rules_in_force(request, self.settings)
        if found is None or not found.of("hide", "filter"):
            return np.ones(len(cands), dtype=bool), no_reasons(len(cands))
        reason = np.full(len(cands), "", dtype=object)
        keep = np.ones(len(cands), dtype=bool)  # not a comparison of the reasons per rule
        columns = Columns(snapshot, cands)
        for rule in found.of("hide", "filter"):
            if rule.action.hide is not None:
                out = among(cands.product_ids, rule.action.hide)
                why = f"{REASON_PREFIX}hide:{rule_name(rule)}"
            else:
                out = ~target_mask(rule.action.filter, cands, snapshot, columns)
                why = f"{REASON_PREFIX}filter:{rule_name(rule)}"
            drop(keep, reason, out, why, first_wins=True)
        return keep, reason
