"""Exploration slots: homepage positions given to a product of a new store, drawn at random.

Positions from settings ``rules.exploration_slots`` get a product drawn uniformly from
the ``rules.exploration_pool`` best new-store candidates; its propensity (1 / pool size)
is logged with the impression so counterfactual evaluation can use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import store_flag
from ranking.pipeline.selectors.draft import PageDraft
from ranking.settings import RulesSettings


@dataclass
class ExplorationSlots:
    """New-store exploration on the homepage (see the module docstring)."""

    settings: RulesSettings
    name: str = "exploration"

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        if request.surface != "homepage" or not self.settings.exploration_slots:
            return
        new = store_flag(snapshot, page.stores, "new_store")
        for slot in self.settings.exploration_slots:
            if not page.is_open(slot):
                continue
            pool = page.order[new[page.order] & ~page.used[page.order]][: self.settings.exploration_pool]
            if not len(pool):
                break
            r = int(pool[int(rng.integers(len(pool)))])
            page.put(slot - 1, r, 1.0 / len(pool))
            cands.rule_notes[r].append({
                "rule": self.name, "position": slot, "propensity": 1.0 / len(pool),
                "why": f"new-store exploration slot, drawn from {len(pool)} candidates"})
