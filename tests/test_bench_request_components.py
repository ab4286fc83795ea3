"""bench.request_components' component timers: ``--thread-cpu`` swaps the wall clock for the
thread's CPU clock."""

from __future__ import annotations

from bench import request_components


class _Part:
    def run(self) -> int:
        return 7


def test_components_are_timed_by_the_chosen_clock(monkeypatch) -> None:
    ticks = iter([10.0, 10.25])
    monkeypatch.setitem(request_components.CLOCK, "now", lambda: next(ticks))
    monkeypatch.setattr(request_components, "TOTALS", request_components.defaultdict(float))
    part = _Part()
    request_components._wrap(part, "run", "a part")
    assert part.run() == 7
    assert request_components.TOTALS["a part"] == 0.25


def test_the_hydrate_providers_are_timed_by_the_chosen_clock_too(monkeypatch) -> None:
    ticks = iter([3.0, 3.5])
    monkeypatch.setitem(request_components.CLOCK, "now", lambda: next(ticks))
    monkeypatch.setattr(request_components, "TOTALS", request_components.defaultdict(float))
    assert request_components._timed(lambda: 7, "a provider")() == 7
    assert request_components.TOTALS["a provider"] == 0.5


def test_scans_are_timed_by_index_and_k_with_their_calls_and_rows(monkeypatch) -> None:
    """``--scans``: each exact index's search by (rows, dimensions, k), the non-zero rows' scan and
    a whole-index scan inside it, and the encoder, each with its calls and queries (or rows)."""
    import threading

    import faiss
    import numpy as np

    from ranking.recall import vector_index
    from ranking.recall.dense import TextEncoder
    from ranking.recall.vector_index import VectorIndex

    patched = ((vector_index.VectorIndex, "search"), (vector_index.faiss, "knn"),
               (faiss.IndexFlatIP, "search"), (faiss.IndexHNSWFlat, "search"), (TextEncoder, "encode"))
    for owner, name in patched:
        monkeypatch.setattr(owner, name, getattr(owner, name))  # restored after the test
    monkeypatch.setattr(request_components, "TOTALS", request_components.defaultdict(float))
    monkeypatch.setattr(request_components, "SCANS", request_components.defaultdict(lambda: [0, 0]))
    monkeypatch.setattr(vector_index, "_SEARCH_THREADS", [1])  # the service's one faiss thread
    monkeypatch.setattr(vector_index, "_APPLIED", threading.local())
    request_components.instrument_scans()
    vectors = np.eye(8, dtype=np.float32)[np.arange(400) % 8]
    vectors[::2] = 0.0  # half zero: the non-zero rows are scanned alone
    index = VectorIndex.build(vectors, np.arange(400))
    before = faiss.omp_get_max_threads()
    try:
        index.search(vectors[1:4], 5)
    finally:
        faiss.omp_set_num_threads(before)
    scans = request_components.SCANS
    assert scans["scan: exact 400x8 k=5"] == [1, 3]
    assert scans["scan: faiss.knn (rows)"] == [1, 200]  # the non-zero rows
    assert scans["scan: whole index (queries)"][0] >= 1  # the tied queries (equal vectors) rescanned
    assert set(scans) <= set(request_components.TOTALS)
