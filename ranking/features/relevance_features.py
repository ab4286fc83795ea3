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
from ranking.text import normalise


def _on_search(x: FeatureInputs) -> np.ndarray:
    return (x.query_index >= 0) & (x.product_row >= 0)


def _pair_dot(q: sp.csr_matrix, p: sp.csr_matrix, x: FeatureInputs) -> np.ndarray:
    """Row-wise dot of query rows and product rows for every candidate on search."""
    ok = _on_search(x)
    out = np.full(x.n, np.nan)
    if ok.any():
        a = q[x.query_index[ok]]
        b = p[x.product_row[ok]]
        out[ok] = np.asarray(a.multiply(b).sum(axis=1)).ravel()
    return out


@feature("lexical_score", "relevance", "BM25 of the query over title, brand and category words")
def lexical_score(x: FeatureInputs) -> np.ndarray:
    return _pair_dot(x.queries.tokens, x.snapshot.text.product_bm25, x)


@feature("term_overlap", "relevance", "share of the query's words found in the product's text")
def term_overlap(x: FeatureInputs) -> np.ndarray:
    shared = _pair_dot(x.queries.tokens, x.snapshot.text.product_tokens, x)
    n = x.queries.n_tokens[np.maximum(x.query_index, 0)] if len(x.queries.texts) else 1
    return shared / np.maximum(n, 1)


@feature("char_overlap", "relevance",
         "share of the query's character bigrams found in the product's text")
def char_overlap(x: FeatureInputs) -> np.ndarray:
    shared = _pair_dot(x.queries.bigrams, x.snapshot.text.product_bigrams, x)
    n = x.queries.n_bigrams[np.maximum(x.query_index, 0)] if len(x.queries.texts) else 1
    return shared / np.maximum(n, 1)


@feature("category_intent", "relevance",
         "P(product's category | query words), from where the catalog uses those words")
def category_intent(x: FeatureInputs) -> np.ndarray:
    ok = _on_search(x) & (x.leaf >= 0)
    out = np.full(x.n, np.nan)
    if ok.any():
        out[ok] = x.queries.intent[x.query_index[ok], x.leaf[ok]]
    return out


@feature("brand_match", "relevance", "1 if the query names the product's brand")
def brand_match(x: FeatureInputs) -> np.ndarray:
    ok = _on_search(x)
    out = np.full(x.n, np.nan)
    if not ok.any():
        return out
    brand = x.snapshot.products.take("brand_id", x.product_row, missing=-1).astype(np.int64)
    pairs = np.stack([x.query_index[ok], brand[ok]], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    names = x.snapshot.text.brand_names
    texts = x.queries.texts
    hit = np.array([
        float(b in names and normalise(names[b]) in texts[q]) for q, b in uniq.tolist()
    ], dtype=np.float32)
    out[ok] = hit[inverse.ravel()]
    return out


@feature("query_length", "relevance", "number of words in the query")
def query_length(x: FeatureInputs) -> np.ndarray:
    ok = x.query_index >= 0
    out = np.full(x.n, np.nan)
    if ok.any():
        out[ok] = x.queries.n_tokens[x.query_index[ok]]
    return out


@feature("dense_similarity", "relevance",
         "cosine of the query's and the product's char-n-gram LSA embeddings (search recall)")
def dense_similarity(x: FeatureInputs) -> np.ndarray:
    value = x.extra.get("dense_similarity")
    if value is None:
        return np.full(x.n, np.nan)
    return np.where(x.query_index >= 0, value, np.nan)
