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

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

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
        counts = self.hasher.transform(texts).astype(np.float32)
        x = counts.multiply(self.idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, dim) L2-normalised embeddings."""
        return _l2(np.asarray(self._tfidf(texts) @ self.components.T))

    @classmethod
    def fit(cls, texts: list[str], dim: int = 64, seed: int = 7) -> tuple[TextEncoder, np.ndarray]:
        """Fit on the catalog; return the encoder and the catalog's embeddings."""
        counts = _hasher().transform(texts)
        df = np.bincount(counts.indices, minlength=N_FEATURES)
        idf = (np.log((1 + len(texts)) / (1 + df)) + 1).astype(np.float32)
        enc = cls(idf, np.zeros((dim, N_FEATURES), np.float32))
        x = enc._tfidf(texts)
        _, _, components = truncated_svd(x, min(dim, max(2, x.shape[0] - 1)), seed)
        enc.components = components.astype(np.float32)
        return enc, enc.encode(texts)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "idf.npy", self.idf)
        np.save(folder / "components.npy", self.components)

    @classmethod
    def load(cls, folder: Path) -> TextEncoder:
        return cls(np.load(folder / "idf.npy", allow_pickle=False),
                   np.load(folder / "components.npy", allow_pickle=False))
