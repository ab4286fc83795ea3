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
from ranking.pipeline.derived_columns import LEAF_POSITIONS, DerivedColumn
from ranking.pipeline.traffic_grades import GRADE_LETTERS, eligible_candidates, ineligible_why
from ranking.settings import RulesSettings


def _theme_slots(category: np.ndarray, snapshot: FeatureSnapshot, leaf_ids: np.ndarray,
                 leaf_theme_slot: np.ndarray) -> np.ndarray:
    """Every product's leaf's theme slot (-1: no leaf), then an unknown product's (category -1);
    ``leaf_ids`` and ``leaf_theme_slot``: the snapshot's, which ``leaf_of_category`` reads."""
    leaf = LEAF_POSITIONS.of(category, snapshot, leaf_ids)
    return np.where(leaf >= 0, leaf_theme_slot[np.maximum(leaf, 0)], -1)


# the theme slot per product, built once per product table (its leaves and the bundle's themes),
# not per request (about 30 us: the category column, a binary search per candidate)
THEME_SLOTS = DerivedColumn(_theme_slots)
# the time slot of each hour of the day, as ``slot_of_hour`` says (a numpy call per request: ~10 us)
SLOT_OF_HOUR = tuple(slot_of_hour(np.arange(24)).tolist())


def slot_now(hour: int) -> int:
    """The time slot of the request's hour (:func:`~ranking.features.inputs.slot_of_hour`)."""
    if isinstance(hour, int) and 0 <= hour < 24:
        return SLOT_OF_HOUR[hour]
    return int(slot_of_hour(np.array([hour]))[0])


@dataclass
class ThemeBoost:
    """Products of the time-slot theme in force at the request's hour move up by
    ``rules.theme_boost`` score deviations."""

    settings: RulesSettings
    name: str = "theme_boost"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if self.settings.theme_boost == 0 or cands.scores is None:
            return
        products = snapshot.products  # read once: the live catalog swaps the table whole
        theme_slot = THEME_SLOTS.candidates(products, cands, products.columns["category_id"], snapshot,
                                            snapshot.leaf_ids, snapshot.leaf_theme_slot) \
            if "category_id" in products.columns else np.full(len(cands), -1)
        theme = theme_slot == slot_now(request.hour)
        hit = theme
        if self.settings.traffic_policy and theme.any():
            eligible, codes, _ = eligible_candidates(snapshot, cands, self.settings)
            hit = theme & eligible
            left_out = np.flatnonzero(theme & ~eligible)
            # the grade that keeps it out, or "" when the grade is fine and the store score is not:
            # by code through a Python list (numpy str arrays and a set cost ~25 us a homepage)
            slot_grades = set(self.settings.traffic_slot_grades)
            key_of_code = ["" if g in slot_grades else g for g in GRADE_LETTERS.tolist()]
            keys = [key_of_code[c] for c in codes[left_out].tolist()]
            reasons = {k: {"rule": "traffic_policy", "why": f"not in the {request.hour:02d}:00 campaign: "
                           + ineligible_why(k, self.settings)} for k in dict.fromkeys(keys)}
            cands.rule_notes.append(left_out, [reasons[k] for k in keys])  # one per reason, shared
        delta = self.settings.theme_boost * score_spread(cands.scores)
        np.add(cands.adjustments, delta, out=cands.adjustments, where=hit)  # not a mask's take and put
        # one note shared by every card it moved (a third of a homepage's candidates: a dict each
        # cost about 0.1 ms); notes are read, never changed, after they are written
        note = {"rule": self.name, "delta": delta, "why": f"category is the theme at {request.hour:02d}:00"}
        cands.rule_notes.append(np.flatnonzero(hit), note)
