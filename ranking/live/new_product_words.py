"""A batch of new products' words and vectors: the pure part of an add.

What depends only on the new products' own texts (title and brand name), their leaf
categories, the leaf words read from the bundle (:class:`~ranking.live.new_product_text.CategoryWords`,
frozen at the first add) and the bundle's dense encoder (:class:`~ranking.recall.dense.TextEncoder`,
never refitted): their search-index tokens, their catalog-text tokens and character bigrams (as
:class:`~ranking.live.new_product_text.BatchTokens`: each batch's distinct words once, not a
string per token) and their dense vectors. Tokenising and the encoder's n-gram hashing are most
of an add's Python work, so :mod:`ranking.live.new_product_worker` runs :func:`batch_words` in a
process of its own; the engine's process maps the words to its vocabularies' columns and
appends (:mod:`ranking.live.new_products`). In either process the result is the same, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ranking.live.new_product_text import BatchTokens, CategoryWords, dense_texts, feature_docs, search_docs
from ranking.recall.dense import TextEncoder


@dataclass
class BatchWords:
    """One batch's words and vectors, row-aligned with its products."""

    search: BatchTokens  # the search index's tokens (own text and leaf search words, in order)
    features: BatchTokens  # the catalog text's distinct tokens (own text and leaf names), sorted
    bigrams: BatchTokens  # ... and its character bigrams
    vectors: np.ndarray | None  # (products, dim) float32, C order; None without an encoder


def encoded(encoder: TextEncoder, texts: list[str]) -> np.ndarray:
    """``encoder``'s vectors of these texts (float32, C order: what FAISS takes)."""
    return np.ascontiguousarray(encoder.encode(texts), dtype=np.float32)


def batch_words(own: Sequence[str], categories: np.ndarray, words: CategoryWords,
                encoder: TextEncoder | None) -> BatchWords:
    """The words and vectors of products of these own texts (title and brand name) and leaves."""
    categories = np.asarray(categories, np.int64)
    tokens, bigrams = feature_docs(own, categories, words)
    vectors = encoded(encoder, dense_texts(own, categories, words)) if encoder is not None else None
    return BatchWords(BatchTokens.of(search_docs(own, categories, words)), BatchTokens.of(tokens),
                      BatchTokens.of(bigrams), vectors)
