"""Subsidy slots: positions the request asks for get the best big-brand-subsidy candidates.

Under the traffic policy only slot-eligible subsidy candidates (grade and store score,
:mod:`ranking.pipeline.traffic_grades`) may take a slot; the rest compete as any other card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.traffic_grades import GRADE_LETTERS, eligible_candidates
from ranking.settings import RulesSettings


@dataclass
class SubsidySlots:
    """Each requested position (``subsidy_slots``, 1-based) gets the best remaining (eligible)
    subsidy candidate, while any is left."""

    settings: RulesSettings | None = None  # the traffic policy's eligibility; None: every subsidy product
    name: str = "subsidy_slot"

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        if not request.subsidy_slots:
            return
        subsidy = page.column(snapshot, cands, "subsidy") > 0
        grades = stores = None
        if self.settings is not None and self.settings.traffic_policy:
            eligible, grades, stores = eligible_candidates(snapshot, cands, self.settings)
            subsidy &= eligible
        rows = page.order[subsidy[page.order]].tolist()
        for slot in sorted(set(request.subsidy_slots)):
            if not page.is_open(slot):
                continue
            while rows and page.used[rows[0]]:
                rows.pop(0)
            if not rows:
                break
            r = rows.pop(0)
            page.put(slot - 1, r)
            cands.rule_notes[r].append({"rule": self.name, "position": slot,
                                        "why": "big-brand subsidy channel slot requested"})
            if grades is not None and grades[r] >= 0:
                cands.rule_notes[r].append({"rule": "traffic_policy", "why": (
                    f"grade {GRADE_LETTERS[grades[r]]}, store score {stores[r]:.0f}: eligible for subsidy "
                    f"slots "
                    f"(grade {'/'.join(self.settings.traffic_slot_grades)}, store score at least "
                    f"{self.settings.traffic_slot_min_store_score:g})")})
