"""A FAISS inner-product index chosen by size: exact below ``exact_max`` vectors, HNSW above.

Vectors are L2-normalised float32, so inner product is cosine similarity. Exact search
(``IndexFlatIP``) is cheap below ~100k vectors (a few ms); above, HNSW (M=32, efSearch
128: 0.5 ms p50 and recall@100 0.984 at 1M x 64-d here, ``make bench`` recall_large_*) with its recall
against exact search measured on sample queries at build time. One thread on the request
path (:func:`set_search_threads`, called by the service). Saved with ``faiss.write_index`` (no pickle).

An exact index whose vectors are often zero (the homepage's item vectors: a product no shopper
touched before the fit, a third of the demo catalog) also keeps its non-zero rows apart and scans
those alone (:meth:`VectorIndex.search`), with the same results: faiss scores each pair alone, so a
row scores the same bits in either scan, and its heap orders equal scores by row, which both scans
number in the same order. The one thing the zero rows can change is which of several products tied
at the k-th score make the list, so a search whose k-th score is not above the next one and above
zero (a zero vector scores 0) scans every row as before (that query alone, the call's others kept).
Below ``k`` = ``faiss.cvar.distance_compute_min_k_reservoir`` (100; ``similar``'s 83) faiss keeps a
query's results in a heap (``HeapBlockResultHandler``): a row enters only above the heap's lowest
score, and the heap's order (``heap_replace_top``/``heap_pop``: ``cmp2``) is by score, then row. A
row scoring below the k-th score then only ever holds a place no better row has taken yet, as an
empty place does, so the better rows' heap (and the answer) is the same with or without the zero
rows, ties at the k-th score included: there a search at ``k`` rescans only when its k-th score is
not above zero (:meth:`VectorIndex._search_nonzero`). From that ``k`` faiss keeps a reservoir cut by
partitions, whose choice among tied scores depends on what else entered it: the rule above stays.
Only on faiss's one-thread sequential scan (the service's: ``serving.search_threads`` 1, a few
queries a call): with more threads or more queries faiss scores by BLAS blocks split over threads,
where which rows share a block (and so a score's last bits, and the order of ties) depends on the
rows scanned, so it scans every row.

An exact index can also keep each of its own rows' nearest rows, computed once when the bundle is
built and saved beside it (:meth:`VectorIndex.keep_neighbours`, :mod:`ranking.recall.row_neighbours`):
the homepage's ``similar`` seeds read them (:meth:`VectorIndex.kept_neighbours`) instead of scanning.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import faiss
import numpy as np

from ranking.recall.row_neighbours import RowNeighbours

ZERO_SHARE = 0.125  # an exact index scans its non-zero rows alone from this share of zero vectors
_SEARCH_THREADS = [0]  # 0: leave FAISS's default (training builds use every core)
_APPLIED = threading.local()


def set_search_threads(n: int) -> None:
    """FAISS threads for every later ``VectorIndex.search`` (the service sets
    ``serving.search_threads``, 1). OpenMP keeps the count per native thread, and requests
    run on pool threads, so each search applies it in its own thread, once."""
    _SEARCH_THREADS[0] = n


def _apply_search_threads() -> None:
    n = _SEARCH_THREADS[0]
    if n and getattr(_APPLIED, "n", 0) != n:
        faiss.omp_set_num_threads(n)
        _APPLIED.n = n


def _sequential(queries: int, dim: int) -> bool:
    """Whether faiss scans ``queries`` vectors pair by pair on this thread (its threshold on
    queries x dimensions for BLAS, one OpenMP thread): each pair's score then does not depend on
    the other rows scanned."""
    return faiss.omp_get_max_threads() == 1 and queries * dim < faiss.cvar.distance_compute_blas_threshold


def _tied(kth: np.ndarray, after: np.ndarray | None = None) -> np.ndarray:
    """The queries whose ``k``-th score is not above zero (and, given, their next score): each
    query's row of ``np.flatnonzero(~((kth > 0) & (kth > after)))``. One query (a homepage's
    ``personal``) compares two Python floats (the float32 values exactly; NaN above nothing, as in
    numpy) instead of four numpy calls."""
    if len(kth) == 1:
        score = float(kth[0])
        held = score > 0 and (after is None or score > float(after[0]))
        return np.zeros(0, np.intp) if held else np.zeros(1, np.intp)
    above = kth > 0 if after is None else (kth > 0) & (kth > after)
    return np.flatnonzero(~above)


class VectorIndex:
    def __init__(self, index, ids: np.ndarray, kind: str, dim: int, ef_search: int = 128) -> None:
        self.index, self.ids, self.kind, self.dim = index, ids, kind, dim
        self.size = len(ids)
        self.ef_search = ef_search
        if kind == "hnsw":
            index.hnsw.efSearch = ef_search
        # (the non-zero rows' vectors, their ids) when worth a scan of their own; the index is never
        # added to after it is built, so they hold for its life
        self.nonzero = self._nonzero_rows() if kind == "exact" else None
        # each row's own nearest rows, kept per bundle (exact indexes; None until kept or loaded)
        self.neighbours: RowNeighbours | None = None

    def _nonzero_rows(self) -> tuple[np.ndarray, np.ndarray] | None:
        vectors = self.vectors()
        held = vectors.any(axis=1)
        if self.size - int(held.sum()) < ZERO_SHARE * self.size:
            return None
        return np.ascontiguousarray(vectors[held]), self.ids[held]

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, *, exact_max: int = 100_000, hnsw_m: int = 32,
              ef_search: int = 128) -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, dim = vectors.shape
        if n <= exact_max:
            index, kind = faiss.IndexFlatIP(dim), "exact"
        else:
            index, kind = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT), "hnsw"
            index.hnsw.efConstruction = 80
        index.add(vectors)
        return cls(index, np.asarray(ids, dtype=np.int64), kind, dim, ef_search)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores (q, k), ids (q, k)); id -1 where fewer than k exist."""
        _apply_search_threads()
        return self.scan(queries, k)

    def scan(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` on this thread's faiss threads as they stand (not the service's count)."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size))
        if self.kind == "hnsw":  # per call, not by mutating the shared index (threads)
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
            scores, rows = self.index.search(q, k, params=params)
        else:
            found = self._search_nonzero(q, k)
            if found is not None:
                return found
            scores, rows = self.index.search(q, k)
        return scores, np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)

    def _search_nonzero(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`search`'s answer from the non-zero rows alone (module docstring), or None when
        fewer than ``k + 1`` such rows. A query whose k-th score is not above both zero and its
        ``k + 1``-th (a tie at the boundary, which the zero rows' places decide; below faiss's
        reservoir ``k``, only a k-th score not above zero) scans every row, alone: on this
        one-thread path faiss answers each query of a call by itself, so the other queries' rows
        are the non-zero scan's (the homepage's ``similar`` asks for three seeds at
        once, and one tied seed rescanned all three)."""
        if self.nonzero is None or len(self.nonzero[0]) <= k or not _sequential(len(q), self.dim):
            return None
        vectors, ids = self.nonzero
        if 1 < k < faiss.cvar.distance_compute_min_k_reservoir:  # faiss's heap: only a k-th score <= 0
            scores, rows = faiss.knn(q, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
            tied = _tied(scores[:, k - 1])
            found = ids[rows]
        else:
            scores, rows = faiss.knn(q, vectors, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
            tied = _tied(scores[:, k - 1], scores[:, k])
            scores, found = np.ascontiguousarray(scores[:, :k]), ids[rows[:, :k]]
        if len(tied):
            again, rows = self.index.search(np.ascontiguousarray(q[tied]), k)
            scores[tied], found[tied] = again, np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)
        return scores, found

    def extends(self, other: VectorIndex) -> bool:
        """Whether this index is ``other`` with rows appended (both exact, ``other``'s ids its first):
        what :meth:`top_after_append` needs of the index that answered before."""
        return self.kind == other.kind == "exact" and self.dim == other.dim and \
            self.size >= other.size and np.array_equal(self.ids[:other.size], other.ids)

    def _stored(self) -> np.ndarray | None:
        """The flat index's vectors in place (no copy; None for another index type)."""
        get_xb = getattr(self.index, "get_xb", None)
        if self.kind != "exact" or get_xb is None:
            return None
        return faiss.rev_swig_ptr(get_xb(), self.size * self.dim).reshape(self.size, self.dim)

    def top_after_append(self, q: np.ndarray, k: int, ids: np.ndarray, scores: np.ndarray, start: int
                         ) -> tuple[np.ndarray, np.ndarray] | None:
        """``search(q, k)``'s answer (ids, scores: one query's, ids not -1) from the answer ``ids``,
        ``scores`` of an index this one extends by appended rows (:meth:`extends`; ``start``: its
        size) and a scan of the appended rows alone; None when that cannot be proven the same.

        A row scores the same bits in either scan (faiss's one-thread sequential scan scores each
        pair alone: :func:`_sequential`, as :meth:`_search_nonzero`), and faiss returns its list by
        score, equal scores by descending row (its heap's order, reservoir's too). So the appended
        rows' list goes first (their rows are all above the earlier ones), each part in faiss's
        order, and a stable sort by score gives faiss's order. Each part's rows not listed score at
        most its last listed one, so when that last one (of a part with more rows than it lists)
        falls outside the merged first ``k`` and the ``k``-th score is above the next, every row not
        listed scores below the ``k``-th: the first ``k`` are the ``k`` best of all rows, which is
        what faiss returns. Otherwise (a tie at the ``k``-th place, which faiss's heap or reservoir
        decides; no appended row good enough to make the list, where the earlier scan's choice
        among rows tied at its last place is not known here) None: the caller scans every row."""
        k = max(1, min(k, self.size))
        _apply_search_threads()
        if not 0 < start <= self.size or len(ids) != min(k, start) or not _sequential(1, self.dim):
            return None
        if start == self.size:  # nothing appended: the rows that answered
            return ids, scores
        stored = self._stored()
        if stored is None:
            return None
        tail = stored[start:]
        tail_scores, tail_rows = faiss.knn(np.ascontiguousarray(q, dtype=np.float32).reshape(1, -1), tail,
                                           min(k, len(tail)), metric=faiss.METRIC_INNER_PRODUCT)
        listed = tail_scores.shape[1]
        merged_scores = np.concatenate([tail_scores[0], scores])
        order = np.argsort(-merged_scores, kind="stable")
        take = min(k, len(order))
        place = np.empty(len(order), np.int64)
        place[order] = np.arange(len(order))
        cut_new = len(tail) > listed and place[listed - 1] < take  # the last listed of a part not
        cut_old = start > len(ids) and place[-1] < take  # listed whole, inside the list
        ranked = merged_scores[order[:take + 1]]
        if cut_new or cut_old or (len(ranked) > take and not ranked[take - 1] > ranked[take]):
            return None
        merged_ids = np.concatenate([self.ids[start + tail_rows[0]], ids])
        return merged_ids[order[:take]], merged_scores[order[:take]]

    def keep_neighbours(self, k: int, threads: int = 1) -> VectorIndex:
        """Compute and keep each non-zero row's ``k`` nearest rows (an exact index; an HNSW one's
        answers are not the service's to repeat, and at its sizes the lists would not fit)."""
        if self.kind == "exact" and k > 0:
            self.neighbours = RowNeighbours.compute(self, k, threads)
        return self

    def kept_neighbours(self, rows: list[int], k: int) -> list[np.ndarray | None]:
        """For each of this index's own ``rows``, the ids ``search(its vector, k)`` returns (read-only),
        from the kept lists; None for a row whose answer is not kept (no lists, no list of that ``k``,
        a tie at its ``k``-th place: :meth:`RowNeighbours.of`)."""
        kept = self.neighbours
        if kept is None:
            return [None] * len(rows)
        out: list[np.ndarray | None] = []
        for row in rows:
            found = kept.of(row, max(1, min(k, self.size)))
            if found is not None:
                found = np.where(found >= 0, self.ids[np.maximum(found, 0)], -1)
                found.flags.writeable = False
            out.append(found)
        return out

    def vectors(self) -> np.ndarray:
        return self.index.reconstruct_n(0, self.size)

    def recall_vs_exact(self, queries: np.ndarray, k: int) -> float:
        """Share of the exact top-k found (1.0 for an exact index)."""
        if self.kind == "exact":
            return 1.0
        exact = faiss.IndexFlatIP(self.dim)
        exact.add(self.vectors())
        _, truth = exact.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        _, got = self.search(queries, k)
        truth_ids = self.ids[truth]
        return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(truth_ids, got, strict=True)]))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / "index.faiss"))
        np.save(folder / "ids.npy", self.ids)
        (folder / "index.json").write_text(json.dumps({"kind": self.kind, "dim": self.dim,
                                                       "ef_search": self.ef_search}))
        if self.neighbours is not None:
            self.neighbours.save(folder)

    @classmethod
    def load(cls, folder: Path) -> VectorIndex:
        meta = json.loads((folder / "index.json").read_text())
        index = faiss.read_index(str(folder / "index.faiss"))
        loaded = cls(index, np.load(folder / "ids.npy", allow_pickle=False), meta["kind"], meta["dim"],
                     meta["ef_search"])
        if loaded.kind == "exact":  # a folder saved without lists (an older bundle) keeps none
            loaded.neighbours = RowNeighbours.load(folder, loaded.size)
        return loaded
