"""An exact index with many zero vectors scans its non-zero rows alone, with faiss's own answers."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from ranking.recall import vector_index
from ranking.recall.vector_index import VectorIndex


def _vectors(rng: np.random.Generator, n: int = 3_000, d: int = 8) -> np.ndarray:
    """Unit vectors, a third zero, many repeated (equal scores inside and at the k-th place)."""
    vectors = rng.normal(size=(n, d)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[rng.random(n) < 0.35] = 0.0
    repeats = rng.integers(0, n, n // 4)
    vectors[repeats] = vectors[rng.integers(0, 40, len(repeats))]  # ties
    return vectors


def _plain(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    scores, rows = index.search(queries, k)
    return scores, np.where(rows >= 0, ids[np.maximum(rows, 0)], -1)


def test_the_nonzero_scan_answers_as_the_whole_index(monkeypatch, one_faiss_thread) -> None:
    rng = np.random.default_rng(3)
    vectors = _vectors(rng)
    ids = np.arange(len(vectors), dtype=np.int64) * 7 + 11
    index = VectorIndex.build(vectors, ids)
    assert index.nonzero is not None and len(index.nonzero[0]) == int(vectors.any(axis=1).sum())
    scanned = []
    knn = faiss.knn
    monkeypatch.setattr(faiss, "knn", lambda q, xb, k, **kw: scanned.append(len(xb)) or knn(q, xb, k, **kw))
    queries = np.r_[vectors[rng.integers(0, len(vectors), 150)], rng.normal(size=(150, 8)).astype(np.float32)]
    for k in (1, 5, 40, 300, 2_500):
        for i in range(0, len(queries), 3):
            q = queries[i:i + 1 + i % 3]  # one to three queries a call
            got, want = index.search(q, k), _plain(vectors, ids, q, k)
            assert got[0].dtype == want[0].dtype and got[1].dtype == want[1].dtype
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert scanned and set(scanned) == {len(index.nonzero[0])}  # the non-zero rows were what it scanned


def test_a_tie_at_the_kth_score_or_a_zero_kth_scans_every_row(monkeypatch, one_faiss_thread) -> None:
    """From faiss's reservoir ``k`` (100) a tie at the k-th score rescans; below it (faiss's heap)
    only a k-th score not above zero does."""
    vectors = np.zeros((400, 4), np.float32)
    vectors[::2] = [1, 0, 0, 0]  # 200 equal vectors: every k below 200 ties at its k-th score
    index = VectorIndex.build(vectors, np.arange(400))
    calls = []
    search = index.index.search
    monkeypatch.setattr(index.index, "search", lambda q, k: calls.append(k) or search(q, k))
    q = np.array([[1, 0, 0, 0]], np.float32)
    neg = -q  # every non-zero row scores -1, below the zero rows
    for query, k in ((q, 150), (q, 10), (neg, 10), (neg, 150)):
        got, want = index.search(query, k), _plain(vectors, index.ids, query, k)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert calls == [150, 10, 150]  # the tie at k = 10 did not rescan


def test_below_the_reservoir_k_ties_answer_from_the_nonzero_rows(monkeypatch, one_faiss_thread) -> None:
    """Many ties at and around the k-th score (a few vectors repeated hundreds of times, zero rows
    between them): below k = 100 the non-zero scan alone gives the whole index's answer."""
    rng = np.random.default_rng(17)
    n, d = 4_000, 6
    base = rng.normal(size=(12, d)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vectors = base[rng.integers(0, len(base), n)]  # every score tied with hundreds of others
    vectors[rng.random(n) < 0.4] = 0.0
    index = VectorIndex.build(vectors, rng.permutation(n).astype(np.int64))
    monkeypatch.setattr(index.index, "search", lambda *a: pytest.fail("rescanned every row"))
    mixed = rng.normal(size=(40, d)).astype(np.float32)
    queries = np.r_[base, mixed[(mixed @ base.T).max(axis=1) > 0.2]]  # a positive k-th score
    for k in (2, 3, 17, 50, 83, 99):
        for i in range(len(queries)):
            q = queries[i:i + 1 + i % 3]
            s, _ = faiss.knn(q, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
            if not (s[:, k - 1] > 0).all():
                continue
            got = index.search(q, k)
            want = _plain(vectors, index.ids, q, k)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), (k, i)
    assert faiss.cvar.distance_compute_min_k_reservoir == 100  # faiss's heap below it (the rule's premise)


def test_few_zero_vectors_keep_no_copy(monkeypatch) -> None:
    vectors = np.eye(16, dtype=np.float32)[np.arange(200) % 16]
    vectors[:20] = 0.0  # a tenth: under the share
    assert VectorIndex.build(vectors, np.arange(200)).nonzero is None
    monkeypatch.setattr(vector_index, "ZERO_SHARE", 0.05)
    assert VectorIndex.build(vectors, np.arange(200)).nonzero is not None


def test_more_faiss_threads_or_many_queries_scan_every_row(monkeypatch, one_faiss_thread) -> None:
    """faiss's BLAS blocks (several threads, or many queries at once: offline evaluation) would
    score a pair by blocks that depend on the rows scanned: there the whole index is scanned."""
    vectors = _vectors(np.random.default_rng(5))
    index = VectorIndex.build(vectors, np.arange(len(vectors)))
    monkeypatch.setattr(faiss, "knn", lambda *a, **kw: pytest.fail("the non-zero rows were scanned"))
    blas = faiss.cvar.distance_compute_blas_threshold // vectors.shape[1]  # queries: faiss uses BLAS
    many = np.repeat(vectors[vectors.any(axis=1)][:1], blas, axis=0)
    assert np.array_equal(index.search(many, 5)[1], _plain(vectors, index.ids, many, 5)[1])
    faiss.omp_set_num_threads(2)
    q = vectors[vectors.any(axis=1)][:1]
    assert np.array_equal(index.search(q, 5)[1], _plain(vectors, index.ids, q, 5)[1])


def test_a_tied_query_among_others_alone_scans_every_row(monkeypatch, one_faiss_thread) -> None:
    """``similar`` asks for three seeds in one call: a tie at one seed's k-th score (from faiss's
    reservoir k) rescans that seed alone, and every row of the answer is still the whole index's."""
    rng = np.random.default_rng(11)
    vectors = np.zeros((1_200, 4), np.float32)
    vectors[:400:2] = [1, 0, 0, 0]  # 200 equal vectors: a query along them ties at its k-th score
    spread = np.abs(rng.normal(size=(400, 4))).astype(np.float32)  # every other query scores them > 0
    vectors[401::2] = spread / np.linalg.norm(spread, axis=1, keepdims=True)  # the rest stays zero
    index = VectorIndex.build(vectors, np.arange(1_200, dtype=np.int64) * 3 + 1)
    calls = []
    search = index.index.search
    monkeypatch.setattr(index.index, "search", lambda q, k: calls.append(len(q)) or search(q, k))
    q = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0.6, 0.8]], np.float32)  # the middle one ties
    got, want = index.search(q, 120), _plain(vectors, index.ids, q, 120)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert got[0].dtype == want[0].dtype and got[1].dtype == want[1].dtype
    assert calls == [1]  # the tied query alone


def test_the_tied_queries_are_the_numpy_forms_for_one_query_and_many():
    from ranking.recall.vector_index import _tied

    rng = np.random.default_rng(8)
    for _ in range(3000):
        q = int(rng.choice([1, 1, 2, 5]))
        kth = rng.choice(np.array([-0.5, 0.0, -0.0, 0.25, 0.5, np.nan], np.float32), q)
        after = rng.choice(np.array([-0.5, 0.0, 0.25, 0.5, np.nan], np.float32), q)
        assert _tied(kth).tolist() == np.flatnonzero(~(kth > 0)).tolist()
        assert _tied(kth, after).tolist() == np.flatnonzero(~((kth > 0) & (kth > after))).tolist()
