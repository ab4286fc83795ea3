"""Dense text embeddings made offline with no model download.

Character n-grams (1-3, within word boundaries: they work for Chinese characters and for
Latin words alike, and survive typos and plurals) are hashed into 2^16 buckets
(scikit-learn's stateless ``HashingVectorizer``), weighted by IDF, L2-normalised and
reduced to ``dim`` dimensions with a truncated SVD fitted on the catalog (latent semantic
analysis: titles that share n-gram neighbourhoods land close). The n-grams are cut from
the tokenizer's search form (:func:`ranking.recall.tokenize.search_form`: normalised, accents
and letter variants folded), so "cafe" and "café" embed alike, as they share BM25 tokens.
Saved as two arrays (IDF and the SVD components), so encoding a query needs no pickle and
no fitted object.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.utils import murmurhash3_32

from ranking.recall.svd import truncated_svd
from ranking.recall.tokenize import search_form

N_FEATURES = 2**16


def _hasher() -> HashingVectorizer:
    return HashingVectorizer(analyzer="char_wb", ngram_range=(1, 3), n_features=N_FEATURES,
                             alternate_sign=False, norm=None, preprocessor=search_form)


def _l2(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.maximum(norms, 1e-12)).astype(np.float32)


class TextEncoder:
    def __init__(self, idf: np.ndarray, components: np.ndarray) -> None:
        self.idf = idf.astype(np.float32)
        self.components = components.astype(np.float32)  # (dim, N_FEATURES)
        self.hasher = _hasher()

    @property
    def dim(self) -> int:
        return self.components.shape[0]

    def _tfidf(self, texts: list[str]) -> sp.csr_matrix:
        """Counts x IDF, each row L2-normalised, computed on the CSR arrays directly.

        The same float32 arithmetic, in the same order, as the scipy expression it replaces
        (``counts.multiply(idf)``, ``sqrt(x.multiply(x).sum(axis=1))`` -- a ``reduceat`` of each
        row's squares in column order -- then ``diags(1 / norms) @ x``, which leaves each row's
        entries in reverse column order, the order ``@ components.T`` then sums them in), so
        every vector, the catalog's and a query's, is bit for bit what it was; without the
        65,536-wide diagonal matrices scipy builds twice per call (about 0.4 of a query's
        0.55 ms)."""
        return self._weighted(self.hasher.transform(texts))

    def _weighted(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """:meth:`_tfidf` of hashed ``counts`` (CSR, columns ascending, duplicates summed)."""
        indptr, indices = counts.indptr, counts.indices
        data = counts.data.astype(np.float32) * self.idf[indices]
        nnz = np.diff(indptr)
        filled = np.flatnonzero(nnz)
        squares = np.zeros(len(nnz), np.float32)
        if len(filled):
            squares[filled] = np.add.reduceat(data * data, indptr[filled])
        scale = np.float32(1.0) / np.maximum(np.sqrt(squares), np.float32(1e-12))
        data = data * np.repeat(scale, nnz)
        reverse = np.repeat(indptr[:-1] + indptr[1:] - 1, nnz) - np.arange(len(data))
        return sp.csr_matrix((data[reverse], indices[reverse], indptr), shape=counts.shape)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, dim) L2-normalised embeddings; one text (a served query) by :meth:`_encode_one`."""
        if len(texts) == 1:
            return self._encode_one(texts[0])
        return self._embedded(self._tfidf(texts))

    def _encode_one(self, text: str) -> np.ndarray:
        """``encode([text])`` (1 x dim), bit for bit, on small arrays instead of scikit-learn's
        and scipy's objects (about 0.17 -> 0.05 ms a query: the hasher's generators and checks, two
        CSR constructions). The same steps in the same float32 order: each n-gram's bucket as the
        hasher finds it (``|murmurhash3_32(gram, 0)| % N_FEATURES``, counts summed, buckets
        ascending), :meth:`_weighted`'s weights and row norm, then the product with the
        components summed over the entries in reverse bucket order, one entry after another, as
        scipy's ``csr_matvecs`` sums them (``tests/test_recall.py`` checks it against
        :meth:`_tfidf` and the matrix product on catalog titles and odd texts)."""
        grams = self.hasher.build_analyzer()(text)
        # the buckets counted and sorted in Python (whole numbers: exact), not by ``np.unique``,
        # whose sort is four numpy calls and lets go of the interpreter lock mid-encode
        counted = Counter([abs(murmurhash3_32(g, 0)) % N_FEATURES for g in grams])
        buckets = sorted(counted)
        columns = np.array(buckets, dtype=np.int64)
        data = np.array([counted[b] for b in buckets], dtype=np.float32) * self.idf[columns]
        square = np.add.reduceat(data * data, [0]) if len(data) else np.zeros(1, np.float32)
        scale = np.float32(1.0) / np.maximum(np.sqrt(square), np.float32(1e-12))
        data = (data * np.repeat(scale, len(data)))[::-1]
        # the rows of the components' transpose, times their entries, added one row at a time:
        # a reduction over the outer axis adds whole rows in order (no pairwise summation)
        terms = data[:, None] * self.components.T[columns[::-1]]
        return _l2(np.add.reduce(terms, axis=0, initial=np.float32(0))[None, :])

    def _embedded(self, x: sp.csr_matrix) -> np.ndarray:
        return _l2(np.asarray(x @ self.components.T))

    @classmethod
    def fit(cls, texts: list[str], dim: int = 64, seed: int = 7) -> tuple[TextEncoder, np.ndarray]:
        """Fit on the catalog; return the encoder and the catalog's embeddings. The catalog is
        hashed and weighted once, and its embeddings are that matrix's: what :meth:`encode`
        of the same texts gives, bit for bit, without hashing them twice more."""
        counts = _hasher().transform(texts)
        df = np.bincount(counts.indices, minlength=N_FEATURES)
        idf = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        enc = cls(idf, np.zeros((dim, N_FEATURES), np.float32))
        x = enc._weighted(counts)
        _, _, components = truncated_svd(x, min(dim, max(2, x.shape[0] - 1)), seed)
        enc.components = components.astype(np.float32)
        return enc, enc._embedded(x)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "idf.npy", self.idf)
        np.save(folder / "components.npy", self.components)

    @classmethod
    def load(cls, folder: Path) -> TextEncoder:
        return cls(np.load(folder / "idf.npy", allow_pickle=False),
                   np.load(folder / "components.npy", allow_pickle=False))
