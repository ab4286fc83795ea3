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

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.scores.product_score import GRADE_FLOORS
from ranking.settings import RulesSettings

GRADES = (*(g for g, _ in GRADE_FLOORS), "D")  # best first
_FLOORS_UP = np.array(sorted(floor for _, floor in GRADE_FLOORS))  # C, B, A floors, ascending
GRADE_LETTERS = np.array([*GRADES, ""])  # by grade code; code -1 (no score) reads as ""


def grade_codes(scores: np.ndarray) -> np.ndarray:
    """Each product score's grade as its index in :data:`GRADES` (0 = A), -1 where it is missing."""
    scores = np.asarray(scores, dtype=np.float64)
    # NaN counts as below every floor (np.where, not np.nan_to_num: the same codes, ~30 us less)
    codes = len(_FLOORS_UP) - np.searchsorted(_FLOORS_UP, np.where(np.isnan(scores), -np.inf, scores),
                                              side="right")
    return np.where(np.isfinite(scores), codes, -1)


def grades_of(scores: np.ndarray) -> np.ndarray:
    """Each product score's grade letter, ``""`` where the score is missing (NaN)."""
    return GRADE_LETTERS[grade_codes(scores)]


def product_grades(scores: np.ndarray) -> np.ndarray:
    """Every product's grade code, then -1 (an unknown product): int8 (-1 to 3), so a page's
    ~470 scattered reads touch a 50 KB column at 50,000 products, not a 400 KB one."""
    return np.r_[grade_codes(np.asarray(scores).astype(np.float64)), -1].astype(np.int8)


def _product_store_scores(store_ids: np.ndarray, stores: EntityTable, scores: np.ndarray | None
                          ) -> np.ndarray:
    """Every product's store experience score (NaN: unknown store or no score), then an unknown
    product's (store -1)."""
    ids = np.r_[np.asarray(store_ids).astype(np.float64), -1].astype(np.int64)  # as product_column reads
    if scores is None:
        return np.full(len(ids), np.nan)
    return stores.take("store_experience_score", stores.rows(ids), missing=np.nan).astype(np.float64)


# per product, kept while the columns they read are the same arrays (ranking/pipeline/derived_columns.py):
# the adjusters and selectors read them for every request (store lookups about 30 us each time)
GRADES_OF_PRODUCTS = DerivedColumn(product_grades)
STORE_SCORES_OF_PRODUCTS = DerivedColumn(_product_store_scores)


def candidate_grades(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Each candidate's product grade code (:func:`grade_codes`; -1: no score), int8."""
    products = snapshot.products  # read once: the live catalog swaps the table whole
    if "product_score" not in products.columns:
        return np.full(len(cands), -1, dtype=np.int8)
    return GRADES_OF_PRODUCTS.candidates(products, cands, products.columns["product_score"])


def candidate_store_scores(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Each candidate's store experience score (NaN: unknown store or no score)."""
    products, stores = snapshot.products, snapshot.stores
    if "store_id" not in products.columns:
        return np.full(len(cands), np.nan)
    return STORE_SCORES_OF_PRODUCTS.candidates(products, cands, products.columns["store_id"], stores,
                                               stores.columns.get("store_experience_score"))


def slot_eligible(codes: np.ndarray, store_scores: np.ndarray, rules: RulesSettings) -> np.ndarray:
    """Whether each product (its grade code, its store's score) may take a subsidy slot or the
    campaign boost (module docstring)."""
    if not rules.traffic_policy:
        return np.ones(len(codes), dtype=bool)
    allowed = np.array([g in rules.traffic_slot_grades for g in GRADES] + [True])  # last: no grade
    store_scores = np.asarray(store_scores, dtype=np.float64)
    # an unknown (non-finite) score passes before the comparison is read: no np.nan_to_num (~20 us)
    good_store = ~np.isfinite(store_scores) | (store_scores >= rules.traffic_slot_min_store_score)
    return allowed[np.asarray(codes)] & good_store


def ineligible_why(grade: str, rules: RulesSettings) -> str:
    """Why a product is not slot eligible, in a merchant's words: its ``grade``, or (``""``) its
    store's score."""
    if grade:
        return f"grade {grade}: subsidy slots and campaigns need grade {'/'.join(rules.traffic_slot_grades)}"
    return (f"store score below {rules.traffic_slot_min_store_score:g}: subsidy slots and campaigns need "
            "at least that")


def eligible_candidates(snapshot: FeatureSnapshot, cands: CandidateSet, rules: RulesSettings
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slot eligible, grade codes, store scores) of every candidate."""
    grades = candidate_grades(snapshot, cands)
    stores = candidate_store_scores(snapshot, cands)
    return slot_eligible(grades, stores, rules), grades, stores
