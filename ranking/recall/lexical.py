"""BM25 over title, brand and category words, as a scipy sparse matrix.

Why scipy rather than a BM25 library: the index is one CSR matrix of per-(product, token)
BM25 weights computed once at build time, so a query is a column slice and a sum — a
few hundred microseconds at 50k products — and it saves as plain arrays (no pickle).
``weight = idf(t) * tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))`` with
``idf(t) = log(1 + (N - df + 0.5) / (df + 0.5))``; k1 = 1.2 and b = 0.75 by default
(settings ``recall.bm25_k1``, ``recall.bm25_b``, read when the index is built).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ranking.recall.tokenize import tokenize

BM25_K1 = 1.2  # term-frequency saturation
BM25_B = 0.75  # length normalisation
GUESS_SAMPLE = 1 << 14  # rows of a catalog-long score array read to guess its k-th score
GUESS_MIN_STRIDE = 8  # ... from a catalog of at least this many times as many rows (~131,000)


def add_postings(s: np.ndarray, rows: np.ndarray, values: np.ndarray, distinct: bool) -> None:
    """``s[rows] += values`` for one column's postings: by ``np.add.at`` when the ``rows`` are
    ``distinct`` (then each row gets the same one float addition; numpy 2's ``add.at`` fast path
    costs about half the fancy-index gather, add and scatter: 300,000 postings 1.9 -> 1.0 ms),
    else as written (a row twice: the last write wins, as it always has)."""
    if distinct:
        np.add.at(s, rows, values)
    else:
        s[rows.astype(np.intp)] += values  # intp once: one cast, not two


def top_rows(s: np.ndarray, hit: np.ndarray, product_ids: np.ndarray, k: int) -> np.ndarray:
    """Positions in ``hit`` (index rows) scoring ``s`` of the first ``k`` in the order (score
    descending, product id ascending), in that order: the lexical recall's top ``k``, a tie at the
    ``k``-th score going to the lower product ids (not to ``np.argpartition``'s internal order).
    One partition finds the ``k``-th score; only the rows above it and those at it are read for
    their ids and sorted."""
    if len(s) > k:
        kth = np.partition(s, len(s) - k)[len(s) - k]
        above = np.flatnonzero(s > kth)
        tied = np.flatnonzero(s == kth)
        if len(above) + len(tied) > k:
            tied = tied[np.argsort(product_ids[hit[tied]], kind="stable")[: k - len(above)]]
        top = np.concatenate([above, tied])
    else:
        top = np.arange(len(s))
    return top[np.lexsort((product_ids[hit[top]], -s[top]))]


def ranked_rows(s: np.ndarray, hit: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows ascending, their scores) that :func:`top_rows` ranks for the top ``k`` of the
    catalog-long scores ``s``: the rows above a guessed threshold (:func:`above_guess`) when the
    guess keeps rows, else every row ``hit`` marks (every row when None) scoring above zero."""
    found = above_guess(s, hit, k)  # at 1M products: the rows that can be in the top k only
    if found is not None:
        return found
    rows = np.flatnonzero(s > 0) if hit is None else np.flatnonzero(hit)
    got = s[rows]
    if hit is None:
        return rows, got
    positive = got > 0  # ``s > 0`` read at the marked rows only (at 1M two catalog-long passes fewer)
    return (rows, got) if positive.all() else (rows[positive], got[positive])


def above_guess(s: np.ndarray, hit: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows ascending, their scores) of the rows ``hit`` marks (every row when None) scoring at
    least a threshold guessed from every ``len(s) // GUESS_SAMPLE``-th row, when at least ``k``
    rows pass. None (:func:`ranked_rows` then reads every positive row) when ``s`` holds fewer than
    :data:`GUESS_MIN_STRIDE` times :data:`GUESS_SAMPLE` rows, ``k`` is not positive, the sample
    holds too few positive marked rows to guess from, or fewer than ``k`` rows pass.

    The same top ``k`` as every positive row's: the threshold is above zero, and when ``k`` rows
    pass, the ``k``-th best score of all is at least the threshold, so every row :func:`top_rows`
    keeps (those above the ``k``-th score and every row tied at it, whose ids break the tie)
    passes, and :func:`top_rows` over the rows that pass returns the same rows in the same order.
    At 1M products a rewritten query marks ~300,000 rows; listing them and partitioning their
    scores cost more than one comparison over the catalog and a list of the ~3,000 rows that pass
    (docs/speed.md, "Stop 54")."""
    step = len(s) // GUESS_SAMPLE
    if step < GUESS_MIN_STRIDE or k <= 0:
        return None
    seen = s[::step]
    seen = seen[seen > 0] if hit is None else seen[hit[::step] & (seen > 0)]
    want = 4 * (k // step) + 16  # about four times the top k's expected share of the sample
    if len(seen) <= want:
        return None
    threshold = np.partition(seen, len(seen) - want)[len(seen) - want]
    passed = s >= threshold
    if hit is not None:
        passed &= hit
    rows = np.flatnonzero(passed)
    return (rows, s[rows]) if len(rows) >= k else None


class BM25Index:
    def __init__(self, vocabulary: dict[str, int], weights: sp.csc_matrix, product_ids: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.weights = weights  # (products, tokens), CSC for fast column slices
        self.product_ids = product_ids

    @classmethod
    def build(cls, texts: list[str], product_ids: np.ndarray, k1: float = BM25_K1,
              b: float = BM25_B) -> BM25Index:
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = np.zeros(len(texts))
        for i, text in enumerate(texts):
            toks = tokenize(text)
            lengths[i] = len(toks)
            counts: dict[int, int] = {}
            for t in toks:
                j = vocab.setdefault(t, len(vocab))
                counts[j] = counts.get(j, 0) + 1
            rows += [i] * len(counts)
            cols += list(counts)
            vals += list(counts.values())
        tf = sp.csr_matrix((np.asarray(vals, np.float32), (rows, cols)), shape=(len(texts), len(vocab)))
        df = np.bincount(tf.indices, minlength=len(vocab))
        n = len(texts)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = max(float(lengths.mean()), 1e-9) if n else 1.0
        norm = (k1 * (1 - b + b * lengths / avgdl)).astype(np.float32)
        coo = tf.tocoo()
        w = idf[coo.col] * coo.data * (k1 + 1) / (coo.data + norm[coo.row])
        weights = sp.csc_matrix((w, (coo.row, coo.col)), shape=tf.shape)
        return cls(vocab, weights, np.asarray(product_ids, dtype=np.int64))

    def document_frequency(self) -> dict[str, int]:
        """Products whose text holds each token (the spelling corrector's word counts)."""
        df = np.diff(self.weights.indptr)
        return {token: int(df[j]) for token, j in self.vocabulary.items()}

    def query_tokens(self, query: str) -> np.ndarray:
        return np.array(sorted({self.vocabulary[t] for t in tokenize(query) if t in self.vocabulary}),
                        dtype=np.int64)

    def scores(self, query: str, cols: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every product (0 where no query token matches); ``cols``: the query's
        :meth:`query_tokens` when the caller has them (the matcher keeps them per text).

        Summed column by column in token order on the CSC arrays: the same float32 sums, in
        the same order, as ``weights[:, cols].sum(axis=1)`` (bit for bit, tested), without
        scipy's fancy column indexing (0.33 -> 0.13 ms a query on the demo catalog)."""
        cols = self.query_tokens(query) if cols is None else cols
        w = self.weights
        s = np.zeros(len(self.product_ids), dtype=w.dtype if len(cols) else np.float32)
        distinct = bool(w.has_canonical_format)  # scipy keeps it once checked
        for j in cols:
            lo, hi = w.indptr[j], w.indptr[j + 1]
            add_postings(s, w.indices[lo:hi], w.data[lo:hi], distinct)
        return s

    def search(self, query: str, k: int, cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best-scoring products (ids, scores), by score then id. A query of one
        token reads its column's postings as they are (sorted postings: the rows and scores the
        catalog-long sum would give, in the same order), with no array as long as the catalog;
        ``cols``: as :meth:`scores` takes them."""
        cols = self.query_tokens(query) if cols is None else cols
        w = self.weights
        if len(cols) == 1 and w.has_sorted_indices:
            lo, hi = w.indptr[cols[0]], w.indptr[cols[0] + 1]
            hit, s = w.indices[lo:hi], w.data[lo:hi]
            positive = s > 0
            return self._top(hit[positive].astype(np.int64), s[positive], k)
        return self._top(*ranked_rows(self.scores(query, cols), None, k), k)

    def _top(self, hit: np.ndarray, s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best of rows ``hit`` scoring ``s``: ids and scores by score, then id
        (:func:`top_rows`)."""
        order = top_rows(s, hit, self.product_ids, k)
        return self.product_ids[hit[order]], s[order]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        w = self.weights
        np.savez(folder / "bm25.npz", data=w.data, indices=w.indices, indptr=w.indptr,
                 shape=np.array(w.shape), product_ids=self.product_ids)
        (folder / "bm25_vocabulary.json").write_text(json.dumps(self.vocabulary, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        with np.load(folder / "bm25.npz", allow_pickle=False) as z:
            w = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            ids = z["product_ids"]
        return cls(json.loads((folder / "bm25_vocabulary.json").read_text()), w, ids)
