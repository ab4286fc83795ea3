"""The search relevance floor (ranking/pipeline/filters/relevance_floor.py): a candidate no
text source proposed needs its dense similarity at the floor; the rest are dropped, named."""

from __future__ import annotations

import numpy as np

from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.filters.relevance_floor import REASON, RelevanceFloor


def test_dense_only_candidates_under_the_floor_are_dropped_with_the_reason() -> None:
    cands = CandidateSet.union({
        "lexical": (np.array([1, 2]), np.array([3.0, 1.0])),
        "dense": (np.array([2, 3, 4, 5]), np.array([0.5, 0.95, 0.9, 0.2])),
    })
    keep, reason = RelevanceFloor(0.9, {"lexical"}, "dense").apply(cands, None, None)
    by_id = dict(zip(cands.product_ids.tolist(), keep.tolist(), strict=True))
    # 1, 2: hold a query word (lexical); 3, 4: similar enough; 5: neither
    assert by_id == {1: True, 2: True, 3: True, 4: True, 5: False}
    assert reason[~keep].tolist() == [REASON]


def test_a_floor_at_minus_one_keeps_everything() -> None:
    cands = CandidateSet.union({"lexical": (np.zeros(0, np.int64), np.zeros(0)),
                                "dense": (np.array([7, 8]), np.array([-0.2, 0.1]))})
    keep, _ = RelevanceFloor(-1.0, {"lexical"}, "dense").apply(cands, None, None)
    assert keep.all()


def test_a_candidate_without_a_dense_score_is_under_any_floor_but_minus_infinity() -> None:
    cands = CandidateSet.union({"lexical": (np.array([1]), np.array([2.0])),
                                "pinless": (np.array([6]), np.array([1.0])),
                                "dense": (np.array([7]), np.array([0.3]))})
    keep, reason = RelevanceFloor(0.1, {"lexical"}, "dense").apply(cands, None, None)
    assert keep.tolist() == [True, False, True] and reason[~keep].tolist() == [REASON]  # kept ones: unread
    assert RelevanceFloor(-np.inf, {"lexical"}, "dense").apply(cands, None, None)[0].all()
    nan_floor = RelevanceFloor(np.nan, {"lexical"}, "dense")  # nothing is at a NaN floor
    assert nan_floor.apply(cands, None, None)[0].tolist() == [True, False, False]
