"""Theme boost: products of the time-slot theme in force at the request's hour move up.

The theme is the mall's campaign of the hour; under the traffic policy only slot-eligible
products (grade and store score, :mod:`ranking.pipeline.traffic_grades`) get it, and a
theme product left out says why in ``explain``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ranking.features.inputs import slot_of_hour
from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import LEAF_POSITIONS, DerivedColumn
from ranking.pipeline.traffic_grades import (
    GRADE_LETTERS,
    GRADES,
    GRADES_OF_PRODUCTS,
    STORE_SCORES_OF_PRODUCTS,
    ineligible_why,
    slot_eligible,
)
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


BOOSTED = 0  # a product's theme code (below): the theme, and slot eligible if the policy is on
# a theme product the traffic policy keeps out: 1 + its key's index in GRADE_LETTERS (its grade,
# or "" for its store's score), the key ``ineligible_why`` reads
LEFT_OUT = 1
STORE_KEY = len(GRADES)  # GRADE_LETTERS[STORE_KEY] == ""


@functools.lru_cache(maxsize=64)
def traffic_key(on: bool, slot_grades: tuple[str, ...], min_store_score: float) -> tuple:
    """The traffic policy's settings as one object per value (a theme code column's source, which
    a derived column compares by identity)."""
    return on, slot_grades, min_store_score


def _theme_codes(slot: int, ids: np.ndarray, category: np.ndarray | None, snapshot: FeatureSnapshot,
                 leaf_ids: np.ndarray, leaf_theme_slot: np.ndarray, scores: np.ndarray | None,
                 store_ids: np.ndarray | None, stores: EntityTable, store_scores: np.ndarray | None,
                 policy: tuple) -> np.ndarray:
    """Every product's theme code at time slot ``slot``, then an unknown product's: -1 not the
    theme, :data:`BOOSTED`, or :data:`LEFT_OUT` + its key; read from the same columns as
    ``THEME_SLOTS``, ``candidate_grades`` and ``candidate_store_scores`` read a candidate's."""
    n = len(ids) + 1
    theme = THEME_SLOTS.of(category, snapshot, leaf_ids, leaf_theme_slot) == slot \
        if category is not None else np.zeros(n, bool)
    codes = np.where(theme, BOOSTED, -1).astype(np.int8)
    on, slot_grades, min_store_score = policy
    if not on:
        return codes
    grades = GRADES_OF_PRODUCTS.of(scores) if scores is not None else np.full(n, -1, np.int64)
    store = STORE_SCORES_OF_PRODUCTS.of(store_ids, stores, store_scores) if store_ids is not None \
        else np.full(n, np.nan)
    rules = RulesSettings(traffic_policy=True, traffic_slot_grades=list(slot_grades),
                          traffic_slot_min_store_score=min_store_score)
    left_out = theme & ~slot_eligible(grades, store, rules)
    grade_kept = np.array([g in slot_grades for g in GRADES] + [True])  # last: no grade, keyed ""
    key = np.where(grade_kept[grades], STORE_KEY, grades)
    codes[left_out] = LEFT_OUT + key[left_out]
    return codes


# per time slot, every product's theme code, built once per product table, store table and policy
# (the theme slots, grades and store scores it reads are kept alike): a request reads its
# candidates' with one take instead of three takes, the eligibility and a key per left-out card
THEME_CODES = tuple(DerivedColumn(functools.partial(_theme_codes, slot))
                    for slot in range(max(SLOT_OF_HOUR) + 1))  # by slot: 0, 1, 2


@functools.lru_cache(maxsize=256)
def _left_out_why(hour: int, key: str, slot_grades: tuple[str, ...], min_store_score: float) -> str:
    rules = RulesSettings(traffic_slot_grades=list(slot_grades), traffic_slot_min_store_score=min_store_score)
    return f"not in the {hour:02d}:00 campaign: " + ineligible_why(key, rules)


@dataclass
class ThemeBoost:
    """Products of the time-slot theme in force at the request's hour move up by
    ``rules.theme_boost`` score deviations."""

    settings: RulesSettings
    name: str = "theme_boost"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if self.settings.theme_boost == 0 or cands.scores is None or not len(cands):
            return
        r = self.settings
        policy = traffic_key(r.traffic_policy, tuple(r.traffic_slot_grades), r.traffic_slot_min_store_score)
        products, stores = snapshot.products, snapshot.stores  # read once: swapped whole
        columns = products.columns
        codes = THEME_CODES[slot_now(request.hour)].candidates(
            products, cands, products.ids, columns.get("category_id"), snapshot, snapshot.leaf_ids,
            snapshot.leaf_theme_slot, columns.get("product_score"), columns.get("store_id"), stores,
            stores.columns.get("store_experience_score"), policy)
        if codes.max() < 0:
            return
        delta = r.theme_boost * score_spread(cands.scores)
        np.add(cands.adjustments, delta, out=cands.adjustments, where=codes == BOOSTED)
        # one note per reason, shared by the cards it moved or left out (a third of a homepage's
        # candidates), named by the codes (RuleNotes.append_coded); notes are never changed
        notes: list[dict | None] = [{"rule": self.name, "delta": delta,
                                     "why": f"category is the theme at {request.hour:02d}:00"}]
        if r.traffic_policy:  # LEFT_OUT + each key's index: its note, or None for a grade let in
            _, grades, min_store = policy
            notes += [None if key in grades else
                      {"rule": "traffic_policy", "why": _left_out_why(request.hour, key, grades, min_store)}
                      for key in GRADE_LETTERS.tolist()]
        cands.rule_notes.append_coded(codes, notes)
