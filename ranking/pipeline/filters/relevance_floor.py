"""The search relevance floor: a candidate holding no query word needs dense similarity.

Lexical recall keeps only products holding a whole query word
(:mod:`ranking.recall.query_words`); a candidate only the dense source proposed shares no
word with the query and is there for its text embedding alone. When its similarity (the
dense source's cosine) is below ``recall.relevance_floor`` it is dropped with the reason
``below_relevance_floor``, so a query the catalog lacks ("电钻", "华为") is not answered
with rice cookers or coffee that merely share a character. Search pages only. A product an
operator's rule pinned (the ``pinned`` source) is kept: the rule says it belongs to this query.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.merchandising.pins import PINNED
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.filters.reasons import one_reason

REASON = "below_relevance_floor"


class RelevanceFloor:
    """Drop candidates no text source proposed whose similarity source score is under the floor."""

    name = "relevance_floor"

    def __init__(self, floor: float, text_sources: set[str], similarity_source: str) -> None:
        self.floor = floor
        self.text_sources = set(text_sources)
        self.similarity_source = similarity_source

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        keep = np.ones(len(cands), dtype=bool)
        for name in self.text_sources & set(cands.source_ranks):
            keep &= cands.source_ranks[name] == 0  # True: no text source proposed it (yet)
        if PINNED in cands.source_ranks:  # the operator pinned it for this query: relevant by decree
            keep &= cands.source_ranks[PINNED] == 0
        similarity = cands.source_scores.get(self.similarity_source)
        if similarity is None:
            similarity = np.full(len(cands), np.nan)
        # below the floor or NaN (no dense score), except that a floor of -inf keeps every one
        low = ~(similarity >= self.floor) if self.floor != -np.inf else np.zeros(len(cands), dtype=bool)
        gone = keep & low  # one reason: a kept array of one str object (a str array's tolist
        return ~gone, one_reason(REASON, len(cands))  # made one per candidate: ~460 on a search)
