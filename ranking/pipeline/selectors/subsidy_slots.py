"""Subsidy slots: positions the request asks for get the best big-brand-subsidy candidates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import product_column
from ranking.pipeline.selectors.draft import PageDraft


@dataclass
class SubsidySlots:
    """Each requested position (``subsidy_slots``, 1-based) gets the best remaining subsidy
    candidate, while any is left."""

    name: str = "subsidy_slot"

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        if not request.subsidy_slots:
            return
        subsidy = product_column(snapshot, cands, "subsidy") > 0
        rows = [int(r) for r in page.order if subsidy[r]]
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
