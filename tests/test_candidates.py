"""What flows through the pipeline: the candidate set's union keeps every source's provenance."""

from __future__ import annotations

import numpy as np

from ranking.pipeline.candidates import CandidateSet


def test_union_deduplicates_and_keeps_provenance():
    c = CandidateSet.union({"lexical": (np.array([5, 7, 9]), np.array([3.0, 2.0, 1.0])),
                            "dense": (np.array([9, 11]), np.array([0.9, 0.8]))})
    assert list(c.product_ids) == [5, 7, 9, 11]
    assert list(c.source_ranks["lexical"]) == [1, 2, 3, 0]
    assert list(c.source_ranks["dense"]) == [0, 0, 1, 2]
    assert np.isnan(c.source_scores["dense"][0]) and c.source_scores["dense"][2] == 0.9
    assert c.sources[2] == ["lexical", "dense"]


def test_union_keeps_a_sources_first_listing_of_an_id_and_takes_empty_sources():
    c = CandidateSet.union({"a": (np.array([4, 2, 4, 8]), np.array([1.0, 2.0, 3.0, 4.0], np.float32)),
                            "empty": (np.zeros(0, np.int64), np.zeros(0)),
                            "b": (np.array([8, 8, 1]), np.array([0.5, 0.25, 0.125]))})
    assert c.product_ids.tolist() == [4, 2, 8, 1]  # by first appearance, sources in order
    assert c.source_ranks["a"].tolist() == [1, 2, 4, 0]  # 4 listed twice: its first rank
    assert c.source_scores["a"][:3].tolist() == [1.0, 2.0, 4.0] and c.source_scores["a"].dtype == np.float64
    assert c.source_ranks["b"].tolist() == [0, 0, 1, 3] and c.source_scores["b"][2] == 0.5
    assert c.source_ranks["empty"].tolist() == [0, 0, 0, 0] and np.isnan(c.source_scores["empty"]).all()
    assert c.source_ranks["a"].dtype == np.int32
    nothing = (np.zeros(0, np.int64), np.zeros(0))
    assert not len(CandidateSet.union({})) and not len(CandidateSet.union({"a": nothing}))
