"""Theme boost: products of the time-slot theme in force at the request's hour move up.

The theme is the mall's campaign of the hour; under the traffic policy only slot-eligible
products (grade and store score, :mod:`ranking.pipeline.traffic_grades`) get it, and a
theme product left out says why in ``explain``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.inputs import slot_of_hour
from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import product_column
from ranking.pipeline.traffic_grades import GRADE_LETTERS, eligible_candidates, ineligible_why
from ranking.settings import RulesSettings


@dataclass
class ThemeBoost:
    """Products of the time-slot theme in force at the request's hour move up by
    ``rules.theme_boost`` score deviations."""

    settings: RulesSettings
    name: str = "theme_boost"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if self.settings.theme_boost == 0 or cands.scores is None:
            return
        category = product_column(snapshot, cands, "category_id", missing=-1).astype(np.int64)
        leaf = snapshot.leaf_of_category(category)
        theme_slot = np.where(leaf >= 0, snapshot.leaf_theme_slot[np.maximum(leaf, 0)], -1)
        now_slot = int(slot_of_hour(np.array([request.hour]))[0])
        theme = theme_slot == now_slot
        hit = theme
        if self.settings.traffic_policy and theme.any():
            eligible, codes, _ = eligible_candidates(snapshot, cands, self.settings)
            hit = theme & eligible
            left_out = np.flatnonzero(theme & ~eligible)
            # the grade that keeps it out, or "" when the grade is fine and the store score is not
            grades = GRADE_LETTERS[codes[left_out]]
            keys = np.where(np.isin(grades, list(self.settings.traffic_slot_grades)), "", grades)
            reasons = {k: {"rule": "traffic_policy", "why": f"not in the {request.hour:02d}:00 campaign: "
                           + ineligible_why(k, self.settings)} for k in set(keys.tolist())}
            for i, key in zip(left_out.tolist(), keys.tolist(), strict=True):
                cands.rule_notes[i].append(reasons[key])  # one note per reason, shared
        delta = self.settings.theme_boost * score_spread(cands.scores)
        cands.adjustments[hit] += delta
        # one note shared by every card it moved (a third of a homepage's candidates: a dict each
        # cost about 0.1 ms); notes are read, never changed, after they are written
        note = {"rule": self.name, "delta": delta, "why": f"category is the theme at {request.hour:02d}:00"}
        for i in np.flatnonzero(hit).tolist():
            cands.rule_notes[i].append(note)
