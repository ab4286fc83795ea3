"""BM25's top k (ranking/recall/lexical.py): a one-token query read from its column's postings
gives the ids, scores and tie order of the catalog-long sum, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.recall.lexical import BM25Index

WORDS = ["drill", "rice", "cooker", "phone", "case", "oil", "lamp", "desk", "kit", "手机", "大米"]


def _catalog_long(bm25: BM25Index, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The search as it was: every product's score, then the hits' top k."""
    s = bm25.scores(query)
    hit = np.flatnonzero(s > 0)
    if len(hit) > k:
        hit = hit[np.argpartition(-s[hit], k - 1)[:k]]
    order = hit[np.lexsort((bm25.product_ids[hit], -s[hit]))]
    return bm25.product_ids[order], s[order]


@pytest.mark.parametrize("k", [1, 7, 50, 10_000])
def test_a_one_token_query_is_the_catalog_long_search_bit_for_bit(k: int) -> None:
    rng = np.random.default_rng(k)
    # few words a title, so many titles tie on a word's weight (the same length)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 4))) for _ in range(3000)]
    bm25 = BM25Index.build(texts, np.arange(3000, dtype=np.int64)[::-1] * 7)  # ids descending
    bm25.weights.sort_indices()
    for query in [*WORDS, "drill rice", "absent", "手"]:
        want_ids, want_scores = _catalog_long(bm25, query, k)
        got_ids, got_scores = bm25.search(query, k)
        assert got_ids.tolist() == want_ids.tolist(), query
        assert got_scores.dtype == want_scores.dtype and got_scores.tobytes() == want_scores.tobytes()
