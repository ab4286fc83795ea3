"""Catalog text for relevance features: each product's words and character bigrams.

A product's text is its title plus its brand name and its category's Chinese and English
names (:func:`ranking.product_text.product_texts` without the top category), tokenised
by :mod:`ranking.recall.tokenize`. ``token_leaf`` says where the catalog uses each word:
row t is ``idf(t) * P(leaf | t)`` (share of products containing t in each leaf), so a
query's category intent is the normalised sum of its words' rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ranking.features.snapshot import CatalogText
from ranking.product_text import product_texts
from ranking.recall.tokenize import char_bigrams, tokenize


def _binary_matrix(docs: list[list[str]]) -> tuple[list[str], sp.csr_matrix]:
    vocab: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    for doc in docs:
        cols = sorted({vocab.setdefault(t, len(vocab)) for t in doc})
        indices.extend(cols)
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float32)
    m = sp.csr_matrix((data, np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int64)),
                      shape=(len(docs), len(vocab)))
    words = [""] * len(vocab)
    for w, i in vocab.items():
        words[i] = w
    return words, m


def build_catalog_text(
    products: pd.DataFrame,
    brands: pd.DataFrame,
    categories: pd.DataFrame,
    leaf_of_product: np.ndarray,
    n_leaves: int,
) -> CatalogText:
    """Token and bigram matrices of the catalog (rows in ``products`` order) and word intents."""
    texts = product_texts(products, brands, categories, top_category=False)
    vocab, tokens = _binary_matrix([tokenize(t) for t in texts])
    bigram_vocab, bigrams = _binary_matrix([char_bigrams(t) for t in texts])
    n = tokens.shape[0]
    leaf = np.maximum(leaf_of_product, 0)
    onehot = sp.csr_matrix(
        (np.ones(n, np.float32), (np.arange(n), leaf)), shape=(n, n_leaves)
    )
    counts = np.asarray((tokens.T @ onehot).todense(), dtype=np.float32)  # (V, L)
    df = counts.sum(axis=1, keepdims=True)
    idf = np.log1p(n / np.maximum(df, 1))
    token_leaf = (counts / np.maximum(df, 1)) * idf
    brand_names = dict(zip(brands.brand_id.astype(int), brands.name, strict=True))
    return CatalogText(vocab, tokens, bigram_vocab, bigrams, token_leaf.astype(np.float32),
                       brand_names)
