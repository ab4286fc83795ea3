"""BM25 weights of the catalog's binary token matrix (the lexical score's product side).

``w(p, t) = idf(t) (k1 + 1) / (1 + k1 (1 - b + b len(p) / avg len))`` with binary term
frequency (titles are short) and ``idf = log(1 + (N - df + 0.5) / (df + 0.5))``. Computed
once when a snapshot's text is built or loaded (about a second for 1M products), never on
a request.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# the feature keeps the default k1 and b whatever recall.bm25_* say: it is computed alike
# in training and serving from the snapshot
from ranking.recall.lexical import BM25_B, BM25_K1


def bm25_matrix(tokens: sp.csr_matrix) -> sp.csr_matrix:
    """Per (product, token) BM25 weight of a binary (P, V) token matrix, float32 CSR."""
    n = tokens.shape[0]
    df = np.bincount(tokens.indices, minlength=tokens.shape[1])
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    length = np.diff(tokens.indptr).astype(np.float64)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / max(length.mean() if n else 0.0, 1e-9))
    rows = np.repeat(np.arange(n), np.diff(tokens.indptr))
    data = idf[tokens.indices] * (BM25_K1 + 1) / (1 + norm[rows])
    return sp.csr_matrix((data.astype(np.float32), tokens.indices.copy(), tokens.indptr.copy()),
                         shape=tokens.shape)
