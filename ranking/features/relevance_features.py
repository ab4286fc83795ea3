"""Relevance features: how well a product answers the search query (NaN off search).

Lexical score is BM25 over the title, brand and category words with binary term
frequency (titles are short): ``sum over shared tokens t of idf(t) (k1 + 1) /
(1 + k1 (1 - b + b len / avg len))``, idf = ``log(1 + (N - df + 0.5) / (df + 0.5))``;
the product side is precomputed with the snapshot (:mod:`ranking.features.bm25`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature
from ranking.features.sparse_rows import row_dots
from ranking.recall.tokenize import fold

FEW_QUERIES = 4  # up to this many distinct queries, dot products go query by query


def _on_search(x: FeatureInputs) -> np.ndarray:
    return (x.query_index >= 0) & (x.product_row >= 0)


def _pair_dot(q: sp.csr_matrix, p: sp.csr_matrix, x: FeatureInputs) -> np.ndarray:
    """Row-wise dot of query rows and product rows for every candidate on search."""
    ok = _on_search(x)
    out = np.full(x.n, np.nan)
    if not ok.any():
        return out
    q_rows, p_rows = x.query_index[ok], x.product_row[ok]
    if q.shape[1] < p.shape[1]:
        # words were added to the catalog text after the queries were read against it
        # (ranking.live.new_products appends columns, never renumbers them): same columns, wider
        q = sp.csr_matrix((q.data, q.indices, q.indptr), shape=(q.shape[0], p.shape[1]))
    distinct = np.unique(q_rows)
    if len(distinct) > FEW_QUERIES:  # training batches: one sparse elementwise product
        out[ok] = np.asarray(q[q_rows].multiply(p[p_rows]).sum(axis=1)).ravel()
        return out
    values = np.empty(len(q_rows))
    for row in distinct.tolist():  # serving: one query, the candidates' rows gathered directly
        mine = q_rows == row
        start, end = q.indptr[row], q.indptr[row + 1]
        values[mine] = row_dots(p, p_rows[mine], q.indices[start:end], q.data[start:end])
    out[ok] = values
    return out


@feature("lexical_score", "relevance", "BM25 of the query over title, brand and category words",
         label="query words in the text (BM25)", unit="number")
def lexical_score(x: FeatureInputs) -> np.ndarray:
    return _pair_dot(x.queries.tokens, x.snapshot.text.product_bm25, x)


@feature("term_overlap", "relevance", "share of the query's words found in the product's text",
         label="query words found", unit="percent")
def term_overlap(x: FeatureInputs) -> np.ndarray:
    shared = _pair_dot(x.queries.tokens, x.snapshot.text.product_tokens, x)
    n = x.queries.n_tokens[np.maximum(x.query_index, 0)] if len(x.queries.texts) else 1
    return shared / np.maximum(n, 1)


@feature("char_overlap", "relevance",
         "share of the query's character bigrams found in the product's text",
         label="query characters found", unit="percent")
def char_overlap(x: FeatureInputs) -> np.ndarray:
    shared = _pair_dot(x.queries.bigrams, x.snapshot.text.product_bigrams, x)
    n = x.queries.n_bigrams[np.maximum(x.query_index, 0)] if len(x.queries.texts) else 1
    return shared / np.maximum(n, 1)


@feature("category_intent", "relevance",
         "P(product's category | query words), from where the catalog uses those words",
         label="category fits the query", unit="percent")
def category_intent(x: FeatureInputs) -> np.ndarray:
    ok = _on_search(x) & (x.leaf >= 0)
    out = np.full(x.n, np.nan)
    if ok.any():
        out[ok] = x.queries.intent[x.query_index[ok], x.leaf[ok]]
    return out


@feature("brand_match", "relevance", "1 if the query names the product's brand",
         label="query names its brand", unit="flag")
def brand_match(x: FeatureInputs) -> np.ndarray:
    ok = _on_search(x)
    out = np.full(x.n, np.nan)
    if not ok.any():
        return out
    brand = x.snapshot.products.take("brand_id", x.product_row, missing=-1).astype(np.int64)
    stride = int(brand.max(initial=0)) + 2  # brand -1 (unknown) -> 0
    keys = x.query_index[ok].astype(np.int64) * stride + (brand[ok] + 1)
    uniq, inverse = np.unique(keys, return_inverse=True)
    names = x.snapshot.text.brand_search_names()
    texts = [fold(t) for t in x.queries.texts]  # normalised already: their search forms
    hit = np.array([
        float(b in names and names[b] in texts[q])
        for q, b in zip((uniq // stride).tolist(), (uniq % stride - 1).tolist(), strict=True)
    ], dtype=np.float32)
    out[ok] = hit[inverse.ravel()]
    return out


@feature("query_length", "relevance", "number of words in the query",
         label="query length (words)", unit="count")
def query_length(x: FeatureInputs) -> np.ndarray:
    ok = x.query_index >= 0
    out = np.full(x.n, np.nan)
    if ok.any():
        out[ok] = x.queries.n_tokens[x.query_index[ok]]
    return out


@feature("dense_similarity", "relevance",
         "cosine of the query's and the product's char-n-gram LSA embeddings (search recall)",
         label="spelling similarity to the query", unit="number")
def dense_similarity(x: FeatureInputs) -> np.ndarray:
    value = x.extra.get("dense_similarity")
    if value is None:
        return np.full(x.n, np.nan)
    return np.where(x.query_index >= 0, value, np.nan)
