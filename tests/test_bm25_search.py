"""BM25's top k (ranking/recall/lexical.py): the first k by (score descending, product id
ascending), so a tie at the k-th score goes to the lower ids; a one-token query read from its
column's postings gives the ids, scores and order of the catalog-long sum, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.recall.lexical import BM25Index, top_rows

WORDS = ["drill", "rice", "cooker", "phone", "case", "oil", "lamp", "desk", "kit", "手机", "大米"]


def _catalog_long(bm25: BM25Index, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The search as it was: every product's score, then the hits' top k."""
    s = bm25.scores(query)
    hit = np.flatnonzero(s > 0)
    order = hit[np.lexsort((bm25.product_ids[hit], -s[hit]))][:k]  # every hit sorted: the rule itself
    return bm25.product_ids[order], s[order]


@pytest.mark.parametrize("seed", range(20))
def test_the_top_k_is_the_first_k_by_score_then_id(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    s = rng.integers(0, 6, size=n).astype(np.float32)  # few distinct scores: ties at the k-th one
    hit = np.sort(rng.choice(1000, size=n, replace=False))
    ids = rng.permutation(5000)[:1000].astype(np.int64)
    for k in (1, 2, 5, n // 2 + 1, n, n + 3):
        got = top_rows(s, hit, ids, k)
        want = np.lexsort((ids[hit], -s))[:k]
        assert got.tolist() == want.tolist(), (n, k)


def test_a_tie_at_the_kth_score_goes_to_the_lower_product_ids() -> None:
    ids = np.array([90, 10, 70, 30, 50, 20, 80, 40, 60, 100], dtype=np.int64)
    bm25 = BM25Index.build(["lamp desk"] * 6 + ["lamp"] * 4, ids)  # six equal scores, then four equal
    got, scores = bm25.search("lamp desk", 3)
    assert got.tolist() == [10, 20, 30]  # the lowest ids of the six tied at the top
    assert len(set(scores.tolist())) == 1
    got, _ = bm25.search("lamp desk", 8)
    assert got.tolist() == [10, 20, 30, 50, 70, 90, 40, 60]  # six, then the two lowest of the four


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
