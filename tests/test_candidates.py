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
