"""What the traffic policy reads of a candidate: its product grade and its store's experience score.

The grade is the product score's (A >= 80, B >= 60, C >= 40, else D:
:data:`ranking.scores.product_score.GRADE_FLOORS`); a product the snapshot has no score for
has no grade (``""``) and no policy rule touches it. A candidate is **slot eligible** (the
big-brand subsidy slots, the time-slot campaign boost) when its grade is one of
``rules.traffic_slot_grades`` and its store scores at least ``rules.traffic_slot_min_store_score``
(an unknown grade or store score does not count against it); with ``rules.traffic_policy`` off
every candidate is.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.columns import product_column
from ranking.scores.product_score import GRADE_FLOORS
from ranking.settings import RulesSettings


def grades_of(scores: np.ndarray) -> np.ndarray:
    """Each product score's grade letter, ``""`` where the score is missing (NaN)."""
    scores = np.asarray(scores, dtype=np.float64)
    known = np.isfinite(scores)
    out = np.select([scores >= floor for _, floor in GRADE_FLOORS], [g for g, _ in GRADE_FLOORS], "D")
    return np.where(known, out, "").astype("<U1")


def candidate_grades(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Each candidate's product grade (``""``: no score)."""
    return grades_of(product_column(snapshot, cands, "product_score", missing=np.nan))


def candidate_store_scores(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Each candidate's store experience score (NaN: unknown store or no score)."""
    store_ids = product_column(snapshot, cands, "store_id", missing=-1).astype(np.int64)
    if "store_experience_score" not in snapshot.stores.columns:
        return np.full(len(cands), np.nan)
    rows = snapshot.stores.rows(store_ids)
    return snapshot.stores.take("store_experience_score", rows, missing=np.nan).astype(np.float64)


def slot_eligible(grades: np.ndarray, store_scores: np.ndarray, rules: RulesSettings) -> np.ndarray:
    """Whether each product may take a subsidy slot or the campaign boost (module docstring)."""
    if not rules.traffic_policy:
        return np.ones(len(grades), dtype=bool)
    good_grade = np.isin(grades, list(rules.traffic_slot_grades)) | (grades == "")
    store_scores = np.asarray(store_scores, dtype=np.float64)
    good_store = ~np.isfinite(store_scores) | (np.nan_to_num(store_scores, nan=0.0)
                                                >= rules.traffic_slot_min_store_score)
    return good_grade & good_store


def ineligible_why(grade: str, store_score: float, rules: RulesSettings) -> str:
    """Why a product is not slot eligible, in a merchant's words."""
    grades = "/".join(rules.traffic_slot_grades)
    if grade not in rules.traffic_slot_grades:
        return f"grade {grade or 'unknown'}: subsidy slots and campaigns need grade {grades}"
    return (f"store score {store_score:.0f}: subsidy slots and campaigns need a store score of at least "
            f"{rules.traffic_slot_min_store_score:g}")


def eligible_candidates(snapshot: FeatureSnapshot, cands: CandidateSet, rules: RulesSettings
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slot eligible, grades, store scores) of every candidate."""
    grades = candidate_grades(snapshot, cands)
    stores = candidate_store_scores(snapshot, cands)
    return slot_eligible(grades, stores, rules), grades, stores
