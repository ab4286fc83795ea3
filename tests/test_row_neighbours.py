"""An exact index's kept row neighbours are its own one-thread search's answers, ties included."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from ranking.recall import row_neighbours, vector_index
from ranking.recall.row_neighbours import RowNeighbours
from ranking.recall.vector_index import VectorIndex


def _tied(rng: np.random.Generator, n: int = 2_000, d: int = 6, zero: float = 0.3) -> np.ndarray:
    """Unit vectors from a few bases (every score tied with many others, at the k-th place too),
    some zero (the homepage's untouched products)."""
    base = rng.normal(size=(15, d)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vectors = base[rng.integers(0, len(base), n)]
    spread = rng.normal(size=(n // 3, d)).astype(np.float32)
    vectors[: n // 3] = spread / np.linalg.norm(spread, axis=1, keepdims=True)  # and distinct ones
    vectors[rng.random(n) < zero] = 0.0
    return vectors


def _plain(vectors: np.ndarray, ids: np.ndarray, row: int, k: int) -> np.ndarray:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    _, rows = index.search(vectors[row:row + 1], k)
    return np.where(rows[0] >= 0, ids[np.maximum(rows[0], 0)], -1)


@pytest.mark.parametrize("big_k", [17, 60, 130])
def test_kept_lists_are_the_plain_index_answers_ties_included(one_faiss_thread, big_k) -> None:
    rng = np.random.default_rng(big_k)
    vectors = _tied(rng)
    ids = rng.permutation(len(vectors)).astype(np.int64) * 3 + 5  # ids not in row order
    index = VectorIndex.build(vectors, ids).keep_neighbours(big_k, threads=2)
    kept = index.neighbours
    held = np.flatnonzero(vectors.any(axis=1))
    assert kept is not None and kept.k == big_k and (kept.rows[held] >= 0).all()
    assert (kept.rows[~vectors.any(axis=1)] == -1).all()  # a zero vector is never a seed
    answered = tied = 0
    for k in sorted({1, 2, big_k - 3, big_k - 1, big_k, big_k + 1}):
        got = index.kept_neighbours(held.tolist(), k)
        for row, ids_got in zip(held.tolist(), got, strict=True):
            if ids_got is None:
                tied += 1
                continue
            answered += 1
            assert not ids_got.flags.writeable
            assert np.array_equal(ids_got, _plain(vectors, ids, row, k)), (row, k)
        if k > big_k:
            assert all(g is None for g in got)  # a longer list than kept: searched
        if k == big_k:
            assert all(g is not None for g in got)  # the kept k itself: every row
    assert tied > 0  # the ties were there (and are searched)
    if big_k < faiss.cvar.distance_compute_min_k_reservoir:  # heads of the lists answered smaller k
        assert answered > 2 * len(held)
    else:  # faiss's reservoir: the kept k alone
        assert answered == len(held)


def test_below_the_kept_k_a_tie_at_the_kth_place_is_not_answered(one_faiss_thread) -> None:
    vectors = np.zeros((300, 4), np.float32)
    vectors[::3] = [1, 0, 0, 0]  # 100 equal vectors: every k below 100 ties at its k-th score
    vectors[1::3] = [0, 1, 0, 0]
    index = VectorIndex.build(vectors, np.arange(300)).keep_neighbours(30)
    assert index.kept_neighbours([0], 30)[0] is not None  # the k kept: faiss's own answer
    assert np.array_equal(index.kept_neighbours([0], 30)[0], _plain(vectors, index.ids, 0, 30))
    assert index.kept_neighbours([0, 3], 12) == [None, None]  # tied at the 12th place


def test_lists_from_faiss_reservoir_k_answer_only_that_k(one_faiss_thread) -> None:
    vectors = _tied(np.random.default_rng(4), n=600)
    k = faiss.cvar.distance_compute_min_k_reservoir + 20
    index = VectorIndex.build(vectors, np.arange(600)).keep_neighbours(k)
    row = int(np.flatnonzero(vectors.any(axis=1))[0])
    assert np.array_equal(index.kept_neighbours([row], k)[0], _plain(vectors, index.ids, row, k))
    assert index.kept_neighbours([row], k - 1) == [None]  # another result handler: not a prefix


def test_computed_on_threads_or_in_batches_the_lists_are_the_same(monkeypatch) -> None:
    vectors = _tied(np.random.default_rng(9), n=1_500)
    one = VectorIndex.build(vectors, np.arange(1_500)).keep_neighbours(25, threads=1).neighbours
    monkeypatch.setattr(row_neighbours, "BATCH", 7)
    many = VectorIndex.build(vectors, np.arange(1_500)).keep_neighbours(25, threads=3).neighbours
    assert np.array_equal(one.lists, many.lists) and np.array_equal(one.strict, many.strict)
    assert np.array_equal(one.rows, many.rows)


def test_saved_lists_load_only_under_the_same_faiss_arithmetic(tmp_path, monkeypatch) -> None:
    vectors = _tied(np.random.default_rng(2), n=500)
    index = VectorIndex.build(vectors, np.arange(500) + 1).keep_neighbours(20)
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded.neighbours is not None and loaded.neighbours.k == 20
    for name in ("rows", "lists", "strict"):
        assert np.array_equal(getattr(loaded.neighbours, name), getattr(index.neighbours, name))
        assert not getattr(loaded.neighbours, name).flags.writeable
    meta = json.loads((tmp_path / "neighbours.json").read_text())
    assert meta == {"k": 20, **row_neighbours.faiss_arithmetic()}
    monkeypatch.setattr(row_neighbours, "faiss_arithmetic", lambda: {"faiss": "0.0", "simd": "NONE"})
    assert VectorIndex.load(tmp_path).neighbours is None  # other arithmetic: other last bits
    monkeypatch.undo()
    for name in ("neighbours.json", "neighbours.npz"):
        (tmp_path / name).unlink()
    assert VectorIndex.load(tmp_path).neighbours is None  # a bundle from before: none, it scans
    assert RowNeighbours.load(tmp_path, 500) is None


def test_an_hnsw_index_keeps_no_lists() -> None:
    vectors = _tied(np.random.default_rng(6), n=400, zero=0.0)
    index = VectorIndex.build(vectors, np.arange(400), exact_max=100).keep_neighbours(10)
    assert index.kind == "hnsw" and index.neighbours is None
    assert index.kept_neighbours([0, 1], 10) == [None, None]


def test_the_service_thread_count_does_not_reach_the_computation(monkeypatch) -> None:
    """``set_search_threads`` (the service's count) applies to ``search``, not to the lists' scans:
    those run on one faiss thread each, the sequential path whose bits the service's scan has."""
    vectors = _tied(np.random.default_rng(8), n=800)
    monkeypatch.setattr(vector_index, "_SEARCH_THREADS", [2])
    seen = []
    scan = VectorIndex.scan
    monkeypatch.setattr(VectorIndex, "scan", lambda self, q, k: seen.append(faiss.omp_get_max_threads())
                        or scan(self, q, k))
    VectorIndex.build(vectors, np.arange(800)).keep_neighbours(12, threads=2)
    assert seen and set(seen) == {1}
