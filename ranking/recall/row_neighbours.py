"""Each row's own nearest rows in an exact item index, as the service's scan answers them, kept per bundle.

The homepage's ``similar`` source searches the item index with a seed item's own vector. That
answer depends only on the bundle (the index never changes after it is built), so the bundle's
build computes every non-zero row's ``k`` nearest once (:meth:`RowNeighbours.compute`) and saves
them beside the index (``neighbours.npz`` and ``neighbours.json`` in its folder): a shopper's
first homepage reads its seeds' lists instead of scanning (a scan of the demo's 33,671 non-zero
item vectors cost 0.41-0.55 ms of thread CPU a call, ``python -m bench.request_components BUNDLE
--app --thread-cpu --pipelines homepage --distinct 400 --scans``; the lists cost ~7.2 s of CPU and
11.7 MB at 50,000 products when the bundle is built: ``python -m bench.similar_lists BUNDLE``).

Bit for bit the service's answer: the lists are ``VectorIndex.search``'s own, computed on faiss's
one-thread sequential path, where each query is scanned alone (a batch of queries gives each
the rows it gets by itself) -- the service's path (``serving.search_threads`` 1). Faiss's inner
products follow its SIMD level (the order of the additions), so the lists hold for the faiss
version and SIMD level that computed them; a bundle loaded under others keeps none and scans.

A list of ``k`` also answers a search at a smaller ``k'`` when its ``k'``-th score is above its
next: the ``k'`` nearest are then one set, and faiss's heap (below its reservoir ``k``, 100) and
its final ``heap_reorder`` order them by score, then row, as they stand at the head of the
longer list. With a tie there (``strict`` false) the caller scans as before.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from ranking.row_lookup import RowLookup


class ScansItself(Protocol):
    """What :meth:`RowNeighbours.compute` reads of an index (``ranking.recall.vector_index.VectorIndex``,
    which imports this module: named here by shape, not imported)."""

    ids: np.ndarray
    size: int
    dim: int

    def vectors(self) -> np.ndarray: ...

    def scan(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

BATCH = 256  # queries a faiss call while computing (each scanned alone below faiss's BLAS threshold)


def faiss_arithmetic() -> dict[str, str]:
    """What decides faiss's inner products' last bits here: its version and SIMD level."""
    config = getattr(faiss, "SIMDConfig", None)
    level = config.get_level_name() if config is not None else faiss.get_compile_options()
    return {"faiss": faiss.__version__, "simd": str(level)}


def queries_per_call(dim: int) -> int:
    """Queries one ``index.scan`` call may hold and stay on faiss's sequential path (each pair scored
    alone, as the service scans one query): below faiss's BLAS threshold, at most :data:`BATCH`."""
    return max(1, min(BATCH, (faiss.cvar.distance_compute_blas_threshold - 1) // dim))


def scan_calls(index: ScansItself, queries: np.ndarray, calls: list[tuple[np.ndarray, int]],
               threads: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """``index.scan(queries[at], k)`` for each ``(at, k)`` of ``calls`` (each at most
    :func:`queries_per_call` rows), on ``threads`` Python threads with one faiss thread each."""

    def part(call: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
        faiss.omp_set_num_threads(1)  # this pool thread's own OpenMP setting
        return index.scan(queries[call[0]], call[1])

    with ThreadPoolExecutor(max(1, threads)) as pool:
        return list(pool.map(part, calls))


def same_arithmetic(meta: dict) -> bool:
    """Whether lists saved with ``meta`` came from this process's faiss arithmetic."""
    return {"faiss": meta.get("faiss"), "simd": meta.get("simd")} == faiss_arithmetic()


@dataclass(frozen=True)
class RowNeighbours:
    """``rows[r]``: row ``r``'s place in ``lists`` (-1: none, a zero vector); ``lists``: index rows
    (int32), ``k`` a list, as ``search(vector of r, k)`` returns them; ``strict``: bit ``j`` of a
    list's row (``np.packbits``, 2.8 -> 0.35 MB at 50,000 products) says its ``j + 1``-th score is
    above its next (its head of ``j + 1`` answers a search at ``j + 1``)."""

    rows: np.ndarray
    lists: np.ndarray
    strict: np.ndarray
    k: int
    arithmetic: dict

    @classmethod
    def compute(cls, index: ScansItself, k: int, threads: int = 1) -> RowNeighbours:
        """Every non-zero row's ``k`` nearest by ``index``'s own search, on ``threads`` Python
        threads, each with one faiss thread (faiss's sequential path, as the service scans)."""
        vectors = index.vectors()
        held = np.flatnonzero(vectors.any(axis=1))
        k = max(1, min(k, index.size))
        per_call = queries_per_call(index.dim)
        found = scan_calls(index, vectors, [(held[i:i + per_call], k) for i in range(0, len(held), per_call)],
                           threads)
        scores = np.vstack([s for s, _ in found]) if found else np.zeros((0, k), np.float32)
        ids = np.vstack([i for _, i in found]) if found else np.zeros((0, k), np.int64)
        lists = np.where(ids >= 0, RowLookup(index.ids).rows(ids), -1).astype(np.int32)  # ids -> index rows
        above = np.ones(scores.shape, bool)
        above[:, :-1] = scores[:, :-1] > scores[:, 1:]
        strict = np.packbits(above, axis=1)
        where = np.full(index.size, -1, np.int32)
        where[held] = np.arange(len(held), dtype=np.int32)
        return cls(where, lists, strict, k, faiss_arithmetic())

    def of(self, row: int, k: int) -> np.ndarray | None:
        """Row ``row``'s ``k`` nearest index rows as its search answers them, or None when not
        kept (no list, a longer ``k``, faiss's reservoir ``k``, or a tie at the ``k``-th place)."""
        at = int(self.rows[row]) if 0 <= row < len(self.rows) else -1
        if at < 0 or k > self.k or k < 1:
            return None
        reservoir = self.k >= faiss.cvar.distance_compute_min_k_reservoir  # not a heap's order
        if k < self.k and (reservoir or not (self.strict[at, (k - 1) >> 3] >> (7 - (k - 1) % 8)) & 1):
            return None
        return self.lists[at, :k]

    def save(self, folder: Path) -> None:
        np.savez(folder / "neighbours.npz", rows=self.rows, lists=self.lists, strict=self.strict)
        (folder / "neighbours.json").write_text(json.dumps({"k": self.k, **self.arithmetic}))

    @classmethod
    def load(cls, folder: Path, size: int) -> RowNeighbours | None:
        """The lists saved in ``folder``, or None: none saved (a bundle from before), other faiss
        arithmetic than this process's, or another index's size."""
        meta_file = folder / "neighbours.json"
        if not meta_file.is_file():
            return None
        meta = json.loads(meta_file.read_text())
        if not same_arithmetic(meta):
            return None
        arithmetic = {"faiss": meta.get("faiss"), "simd": meta.get("simd")}
        with np.load(folder / "neighbours.npz", allow_pickle=False) as z:
            rows, lists, strict = z["rows"], z["lists"], z["strict"]
        if len(rows) != size:
            return None
        for a in (rows, lists, strict):
            a.flags.writeable = False
        return cls(rows, lists, strict, int(meta["k"]), arithmetic)
