"""BM25's top k (ranking/recall/lexical.py): the first k by (score descending, product id
ascending), so a tie at the k-th score goes to the lower ids; a one-token query read from its
column's postings gives the ids, scores and order of the catalog-long sum, bit for bit; the rows
above a guessed threshold (``above_guess``, a large catalog's) hold that top k whenever kept."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import recording

from ranking.recall import lexical
from ranking.recall.lexical import GUESS_MIN_STRIDE as GUESS_MIN
from ranking.recall.lexical import BM25Index, above_guess, ranked_rows, top_rows

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


def _every_positive_top(s: np.ndarray, hit: np.ndarray | None, ids: np.ndarray, k: int) -> list[int]:
    """The rule itself: every positive marked row sorted, the first k."""
    rows = np.flatnonzero((s > 0) if hit is None else hit & (s > 0))
    return rows[np.lexsort((ids[rows], -s[rows]))][:k].tolist()


@pytest.fixture
def sample_64(monkeypatch) -> None:
    """A guess from 64 sampled rows: a test's few thousand scores read as a large catalog's."""
    monkeypatch.setattr(lexical, "GUESS_SAMPLE", 64)


@pytest.mark.parametrize("seed", range(30))
def test_the_rows_above_a_guessed_threshold_give_the_same_top_k(seed: int, sample_64) -> None:
    """Scores with few distinct values (ties at the k-th one), zeros and negatives, with and
    without a mask of recalled rows: when the guess keeps rows, they hold every row of the top k
    (above the k-th score and every row tied at it), so top_rows over them, and over what
    ranked_rows gives whether it guessed or not, is the first k of every positive row sorted by
    (score descending, product id ascending)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(64 * GUESS_MIN, 20_000))  # a stride of at least the least
    s = (rng.integers(-1, 8, size=n) * rng.choice([1.0, 0.5], size=n)).astype(np.float32)
    if seed % 3 == 0:
        s *= rng.random(n, np.float32)  # distinct scores too
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    kept = 0
    for hit in (None, rng.random(n) < 0.4):
        for k in (1, 5, 60, int(rng.integers(1, n))):
            rows, scores = ranked_rows(s, hit, k)
            assert rows[top_rows(scores, rows, ids, k)].tolist() == _every_positive_top(s, hit, ids, k)
            got = above_guess(s, hit, k)
            if got is None:
                continue
            kept += 1
            rows, scores = got
            assert np.all(np.diff(rows) > 0) and scores.tobytes() == s[rows].tobytes()
            assert rows[top_rows(scores, rows, ids, k)].tolist() == _every_positive_top(s, hit, ids, k)
    assert kept  # the guess kept rows in some case of every array


def test_the_guess_keeps_nothing_for_a_short_array_or_too_few_passing_rows(monkeypatch) -> None:
    s = np.arange(1, 5001, dtype=np.float32)
    assert above_guess(s, None, 10) is None  # at the default sample: a stride of 0, no guess
    monkeypatch.setattr(lexical, "GUESS_SAMPLE", 64)
    assert above_guess(s, None, 10) is not None  # a stride of 78
    assert above_guess(s[:64 * 7], None, 10) is None  # a stride of 7, under the least
    tied = np.zeros(5000, np.float32)
    tied[::2] = 1.0  # 2,500 positive rows, all tied
    assert above_guess(tied, None, 3000) is None  # k so large the sample cannot guess it
    got = above_guess(tied, None, 50)
    assert got is not None and len(got[0]) == 2500  # every row tied at the k-th score passes
    lopsided = np.ones(5000, np.float32)
    lopsided[::78] = 10.0  # the sampled rows (a stride of 78) score above the rest: 65 pass
    assert above_guess(lopsided, None, 60) is not None
    assert above_guess(lopsided, None, 100) is None  # fewer than k pass: every row is read
    sparse = np.zeros(5000, np.float32)
    sparse[::50] = 1.0  # 100 positive rows: 3 in the sample, too few to guess from
    assert above_guess(sparse, None, 5) is None


def test_a_large_catalogs_search_is_the_catalog_long_search_bit_for_bit(monkeypatch, sample_64) -> None:
    """BM25Index.search's many-token queries through the guess (a 64-row sample on 3,000
    products) give what every product's scores give, ties at the k-th score included."""
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 4))) for _ in range(3000)]
    bm25 = BM25Index.build(texts, np.arange(3000, dtype=np.int64)[::-1] * 7)
    guessed: list = []
    monkeypatch.setattr(lexical, "above_guess", recording(above_guess, guessed))
    for k in (1, 7, 50, 10_000):
        for query in ("drill rice", "phone case lamp", "手机 大米", "oil kit desk", "absent words"):
            want_ids, want_scores = _catalog_long(bm25, query, k)
            got_ids, got_scores = bm25.search(query, k)
            assert got_ids.tolist() == want_ids.tolist(), (query, k)
            assert got_scores.tobytes() == want_scores.tobytes()
    assert any(guessed) and not all(guessed)
