"""Products in the search recall without a rebuild: BM25 rows and dense vectors appended (new
products) or replaced (known products whose text changed: :mod:`ranking.live.known_product_text`).

**Lexical.** The BM25 index (:class:`~ranking.recall.lexical.BM25Index`) stores weights,
not the statistics they came from; :func:`search_statistics` reads them back: the document
count and each word's document frequency are the matrix's shape and column counts, the
average length is solved from the weights themselves (per product: the norm from a word
seen once, the term counts from that norm, the average length from both; the median over
products, exact wherever a product has a word it holds once). New rows are weighted with
those frozen statistics (:class:`~ranking.live.new_product_text.FrozenBm25`), so every
existing product's score for every query is what it was; a word first seen in added
products gets the IDF of its frequency among them and becomes a column of its own.

**Dense.** New texts are embedded by the bundle's own encoder (the fitted IDF and LSA
projection: :class:`~ranking.recall.dense.TextEncoder`) and added to a *clone* of the
FAISS index (``IndexFlatIP`` or ``IndexHNSWFlat``: neither needs training, both take
``add``); the clone is swapped in, because FAISS does not allow ``add`` while another thread
searches the same index.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import scipy.sparse as sp

from ranking.live.new_product_text import BatchTokens, FrozenBm25, replace_rows, stack_rows, token_rows
from ranking.live.new_product_words import encoded
from ranking.recall.lexical import BM25_B, BM25_K1, BM25Index
from ranking.recall.search import SearchRecall
from ranking.recall.vector_index import VectorIndex
from ranking.row_lookup import RowLookup


def search_statistics(bm25: BM25Index, k1: float, b: float) -> FrozenBm25:
    """The statistics the index's weights were computed with (see the module docstring)."""
    w = bm25.weights.tocsr()
    n = w.shape[0]
    df = np.diff(bm25.weights.tocsc().indptr)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    if w.nnz == 0:
        return FrozenBm25(idf, 1.0, n, k1, b)
    rows = np.repeat(np.arange(n), np.diff(w.indptr))
    ratio = w.data / np.maximum(idf[w.indices], 1e-12)  # tf (k1 + 1) / (tf + norm)
    implied = (k1 + 1) / np.maximum(ratio, 1e-12) - 1  # the norm, were tf 1: largest for tf 1
    norm = np.full(n, -np.inf)
    np.maximum.at(norm, rows, implied)
    tf = np.rint(ratio * norm[rows] / np.maximum(k1 + 1 - ratio, 1e-12))
    length = np.bincount(rows, weights=np.maximum(tf, 1), minlength=n)
    excess = norm - k1 * (1 - b)
    ok = (np.diff(w.indptr) > 0) & (excess > 1e-6)
    avgdl = float(np.median(b * k1 * length[ok] / excess[ok])) if ok.any() else 1.0
    return FrozenBm25(idf, avgdl, n, k1, b)


@dataclass
class SearchAppend:
    """The search recall's appended state, built aside; :meth:`publish` swaps it in."""

    bm25: BM25Index
    index: VectorIndex
    vectors: np.ndarray
    new_words: int
    appended: bool = False  # rows appended to the served index (new products), none changed

    def publish(self, search: SearchRecall) -> None:
        search.replace_products(self.bm25, self.index, self.vectors, appended=self.appended)


def lexical_rows(bm25: BM25Index, docs: list[list[str]] | BatchTokens, stats: FrozenBm25
                 ) -> tuple[dict[str, int], sp.csr_matrix, int]:
    """BM25 rows of these token lists with the frozen ``stats`` (grown with the words first seen
    here, which get columns of their own): the grown vocabulary, the rows, how many new words."""
    tokens = docs if isinstance(docs, BatchTokens) else BatchTokens.of(docs)
    vocabulary = dict(bm25.vocabulary)
    words = [""] * len(vocabulary)
    for word, j in vocabulary.items():
        words[j] = word
    before = len(words)
    tf = token_rows(tokens, vocabulary, words, binary=False)
    stats.grow(np.bincount(tf.indices, minlength=len(words))[before:])
    return vocabulary, stats.weights(tf, tokens.lengths.astype(np.float64)), len(words) - before


def append_csc_rows(old: sp.csc_matrix, new: sp.csr_matrix) -> sp.csc_matrix:
    """``old`` (by columns) with ``new``'s rows below, widened to ``new``'s columns: the matrix
    ``stack_rows(old.tocsr(), new).tocsc()`` makes, arrays and all, without converting every row
    of ``old`` twice (each column's entries of the new rows go after its old ones: their rows are
    all below). That path when ``old``'s row indices are not sorted within each column."""
    old = sp.csc_matrix(old)
    if not old.has_sorted_indices:
        return stack_rows(old.tocsr(), new).tocsc()
    add = sp.csc_matrix(new).tocsc()
    old_counts = np.zeros(new.shape[1], np.int64)
    old_counts[:old.shape[1]] = np.diff(old.indptr)
    add_counts = np.diff(add.indptr).astype(np.int64)
    indptr = np.zeros(new.shape[1] + 1, np.int64)
    np.cumsum(old_counts + add_counts, out=indptr[1:])
    # each entry's place: its column's new start plus its place in that column's old or new part
    old_at = np.arange(old.nnz, dtype=np.int64) + np.repeat(indptr[:-1] - np.r_[old.indptr[:-1], np.full(
        new.shape[1] - old.shape[1], old.nnz)], old_counts)
    add_at = np.arange(add.nnz, dtype=np.int64) + np.repeat(indptr[:-1] + old_counts - add.indptr[:-1],
                                                             add_counts)
    rows = old.shape[0] + new.shape[0]
    index = np.int32 if max(rows, int(indptr[-1])) < np.iinfo(np.int32).max else np.int64  # as scipy picks
    data = np.empty(int(indptr[-1]), old.data.dtype)
    indices = np.empty(int(indptr[-1]), index)
    data[old_at], data[add_at] = old.data, add.data
    indices[old_at], indices[add_at] = old.indices, add.indices + old.shape[0]
    return sp.csc_matrix((data, indices, indptr.astype(index)), shape=(rows, new.shape[1]))


def append_lexical(bm25: BM25Index, docs: list[list[str]] | BatchTokens, ids: np.ndarray,
                   stats: FrozenBm25) -> tuple[BM25Index, int]:
    """A new index: ``bm25``'s rows, then rows of these token lists (see the module docstring)."""
    vocabulary, rows, new_words = lexical_rows(bm25, docs, stats)
    weights = append_csc_rows(bm25.weights, rows)
    return BM25Index(vocabulary, weights, np.r_[bm25.product_ids, ids].astype(np.int64)), new_words


def encode(search: SearchRecall, texts: list[str]) -> np.ndarray:
    """The bundle's encoder's vectors of these texts (float32, C order: what FAISS takes)."""
    return encoded(search.encoder, texts)


def append_dense(search: SearchRecall, vectors: np.ndarray, ids: np.ndarray
                 ) -> tuple[VectorIndex, np.ndarray]:
    """A cloned vector index with these embeddings (:func:`encode`) added, and the row-aligned vectors."""
    old = search.index
    clone = faiss.clone_index(old.index)
    clone.add(vectors)
    index = VectorIndex(clone, np.r_[old.ids, ids].astype(np.int64), old.kind, old.dim, old.ef_search)
    return index, np.concatenate([search.vectors, vectors], dtype=np.float32)  # one copy, not two


def append_search(search: SearchRecall, docs: list[list[str]] | BatchTokens, vectors: np.ndarray,
                  ids: np.ndarray, stats: FrozenBm25) -> SearchAppend:
    """Both sides for these products (token lists for BM25, their texts' embeddings for FAISS)."""
    bm25, new_words = append_lexical(search.bm25, docs, ids, stats)
    index, vectors = append_dense(search, vectors, ids)
    return SearchAppend(bm25, index, vectors, new_words, appended=True)


def replace_lexical(bm25: BM25Index, rows: np.ndarray, docs: list[list[str]],
                    stats: FrozenBm25) -> tuple[BM25Index, int]:
    """A new index: ``bm25`` with its rows ``rows`` (distinct) weighted anew from these token
    lists with the frozen ``stats``; every other row, and the statistics, as they were."""
    vocabulary, new_rows, new_words = lexical_rows(bm25, docs, stats)
    weights = replace_rows(bm25.weights.tocsr(), rows, new_rows).tocsc()
    return BM25Index(vocabulary, weights, bm25.product_ids), new_words


def replace_dense(search: SearchRecall, ids: np.ndarray, texts: list[str]) -> tuple[VectorIndex, np.ndarray]:
    """A new vector index in which products ``ids`` have these texts' embeddings, and the
    search's row-aligned vectors likewise. An exact index is rebuilt from its vectors with
    theirs replaced (a copy: no search waits); an HNSW graph cannot move a vector, so a clone
    gets the new ones added and the old ones' rows answer id -1 (dropped by every caller)."""
    vectors = encode(search, texts)
    old = search.index
    index_rows = RowLookup(old.ids).rows(ids)
    if old.kind == "exact":
        stored = old.index.reconstruct_n(0, old.size).copy()
        stored[index_rows[index_rows >= 0]] = vectors[index_rows >= 0]
        flat = faiss.IndexFlatIP(old.dim)
        flat.add(np.ascontiguousarray(stored))
        index = VectorIndex(flat, old.ids, old.kind, old.dim, old.ef_search)
    else:
        clone = faiss.clone_index(old.index)
        clone.add(vectors)
        kept = old.ids.copy()
        kept[index_rows[index_rows >= 0]] = -1
        index = VectorIndex(clone, np.r_[kept, ids].astype(np.int64), old.kind, old.dim, old.ef_search)
    aligned = search.vectors.copy()
    search_rows = RowLookup(search.product_ids).rows(ids)
    aligned[search_rows[search_rows >= 0]] = vectors[search_rows >= 0]
    return index, aligned


def replace_search(search: SearchRecall, ids: np.ndarray, docs: list[list[str]], texts: list[str],
                   stats: FrozenBm25) -> SearchAppend:
    """Both sides of these known products (distinct ids the search holds) built anew."""
    rows = RowLookup(search.product_ids).rows(ids)
    bm25, new_words = replace_lexical(search.bm25, rows, docs, stats)
    index, vectors = replace_dense(search, ids, texts)
    return SearchAppend(bm25, index, vectors, new_words)


def bm25_settings(search: SearchRecall) -> tuple[float, float]:
    """The k1 and b the index was built with (its manifest's; the defaults before they were recorded)."""
    return float(search.manifest.get("bm25_k1", BM25_K1)), float(search.manifest.get("bm25_b", BM25_B))
