"""Catalog text for relevance features: each product's words and character bigrams.

A product's text is its title plus its brand name and its category's Chinese and English
names, tokenised by :mod:`ranking.recall.tokenize`. ``token_leaf`` says where the catalog
uses each word: row t is ``idf(t) * P(leaf | t)`` (share of products containing t in each
leaf), so a query's category intent is the normalised sum of its words' rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ranking.features.snapshot import CatalogText
from ranking.recall.tokenize import char_bigrams, tokenize


def product_texts(products: pd.DataFrame, brands: pd.DataFrame, categories: pd.DataFrame) -> list[str]:
    """Title + brand + category names of each product, in ``products`` row order."""
    brand = products.brand_id.map(brands.set_index("brand_id").name).fillna("")
    cats = categories.set_index("category_id")
    zh = products.category_id.map(cats.name).fillna("")
    en = products.category_id.map(cats.name_en).fillna("")
    return (products.title + " " + brand + " " + zh + " " + en).tolist()


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
    texts = product_texts(products, brands, categories)
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
