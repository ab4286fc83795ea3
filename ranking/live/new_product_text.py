"""A new product's words, as the bundle's indexes would have cut them, and its catalog-text rows.

A product's text is its title, its brand name and its category names
(:mod:`ranking.product_text`). A loaded bundle holds titles and brand names
(``CatalogText.brand_names``) but not the categories table, so the category words are read
from the bundle itself: :class:`CategoryWords` keeps, per leaf category, the tokens (and
character bigrams) that *every* product of the leaf has, in the snapshot's catalog text
(leaf names) and in the search index (leaf and top-category names). A leaf needs
``MIN_PRODUCTS`` products for that; with fewer, its products' shared title words would pass
for category words, so a new product there gets title and brand words only.

:func:`append_catalog_text` returns a new :class:`~ranking.features.snapshot.CatalogText`
with the new products' rows appended (the existing rows, columns and words unchanged, new
words appended): copy-on-write, the caller swaps it in. BM25 weights of the new rows use
the bundle's statistics (document count, document frequency, average length), frozen at
the first add (:class:`FrozenBm25`), so no existing product's ``lexical_score`` moves; a
word first seen in added products gets its IDF from the products it was first seen in.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ranking.features.snapshot import CatalogText
from ranking.recall.lexical import BM25_B, BM25_K1
from ranking.recall.tokenize import char_bigrams, tokenize

MIN_PRODUCTS = 3  # a leaf with fewer products has no reliable shared (category) words


def shared_columns(matrix: sp.spmatrix, category_of_row: np.ndarray) -> dict[int, np.ndarray]:
    """Per category id (with at least ``MIN_PRODUCTS`` rows): the columns set in every row."""
    matrix = sp.csr_matrix(matrix)
    cats, inverse, sizes = np.unique(category_of_row, return_inverse=True, return_counts=True)
    onehot = sp.csr_matrix((np.ones(len(inverse), np.float32), (inverse, np.arange(len(inverse)))),
                           shape=(len(cats), matrix.shape[0]))
    binary = matrix.copy()
    binary.data = np.ones_like(binary.data, dtype=np.float32)
    counts = (onehot @ binary).tocsr()
    out: dict[int, np.ndarray] = {}
    for i, cat in enumerate(cats.tolist()):
        if sizes[i] < MIN_PRODUCTS:
            continue
        lo, hi = counts.indptr[i], counts.indptr[i + 1]
        out[int(cat)] = counts.indices[lo:hi][counts.data[lo:hi] >= sizes[i]].astype(np.int64)
    return out


@dataclass
class CategoryWords:
    """Each leaf's words as the bundle's texts hold them (see the module docstring)."""

    feature_tokens: dict[int, list[str]]  # catalog text: leaf names
    feature_bigrams: dict[int, list[str]]
    search_tokens: dict[int, list[str]]  # search index: leaf and top-category names

    @classmethod
    def from_bundle(cls, text: CatalogText, category_of_row: np.ndarray, search_vocabulary: dict[str, int],
                    search_weights: sp.spmatrix | None, search_category: np.ndarray | None) -> CategoryWords:
        """From the snapshot's catalog text (rows aligned with ``category_of_row``) and the search
        index's weights (rows aligned with ``search_category``)."""
        words = np.array(text.vocabulary, dtype=object)
        bigrams = np.array(text.bigram_vocabulary, dtype=object)
        tokens = {c: list(words[cols])
                  for c, cols in shared_columns(text.product_tokens, category_of_row).items()}
        bis = {c: list(bigrams[cols])
               for c, cols in shared_columns(text.product_bigrams, category_of_row).items()}
        search: dict[int, list[str]] = {}
        if search_weights is not None and search_category is not None:
            names = np.empty(len(search_vocabulary), dtype=object)
            for word, j in search_vocabulary.items():
                names[j] = word
            search = {c: list(names[cols])
                      for c, cols in shared_columns(search_weights, search_category).items()}
        return cls(tokens, bis, search)

    def display_words(self, category_id: int) -> str:
        """The leaf's search words as text for the dense encoder: the words no other of them
        contains ("食用" and "用油", not "食" or "用"), as close to the names as tokens get."""
        words = self.search_tokens.get(int(category_id), [])
        kept = [w for w in words if not any(w != o and w in o for o in words)]
        return " ".join(sorted(kept))


@dataclass
class FrozenBm25:
    """The statistics BM25 weights of appended rows use (the bundle's, frozen at the first add)."""

    idf: np.ndarray  # per vocabulary column; grows as words are first seen
    avgdl: float
    documents: int  # the bundle's document count
    k1: float = BM25_K1
    b: float = BM25_B

    @classmethod
    def of_binary(cls, tokens: sp.csr_matrix) -> FrozenBm25:
        """As :func:`ranking.features.bm25.bm25_matrix` computes them over a binary matrix."""
        n = tokens.shape[0]
        df = np.bincount(tokens.indices, minlength=tokens.shape[1])
        length = np.diff(tokens.indptr)
        return cls(np.log1p((n - df + 0.5) / (df + 0.5)), max(float(length.mean()) if n else 0.0, 1e-9), n)

    def grow(self, new_df: np.ndarray) -> None:
        """IDF of words first seen now: their document frequency among the products adding them."""
        n = self.documents
        self.idf = np.r_[self.idf, np.log1p((n - new_df + 0.5) / (new_df + 0.5))]

    def weights(self, tf: sp.csr_matrix, lengths: np.ndarray) -> sp.csr_matrix:
        """Per (row, word) weight of term-frequency rows of these lengths."""
        coo = tf.tocoo()
        norm = self.k1 * (1 - self.b + self.b * lengths / self.avgdl)
        data = self.idf[coo.col] * coo.data * (self.k1 + 1) / (coo.data + norm[coo.row])
        return sp.csr_matrix((data.astype(np.float32), (coo.row, coo.col)), shape=tf.shape)


@dataclass
class BatchTokens:
    """Token lists of some documents, as their own distinct ``words`` (in order of first
    appearance) and per token its word's position (``codes``): document ``d`` is
    ``codes[ptr[d]:ptr[d + 1]]``. What the worker process sends back instead of lists of
    strings (:mod:`ranking.live.new_product_worker`), and what :func:`token_rows` maps to a
    vocabulary's columns with one dictionary look-up per distinct word, not per token."""

    words: list[str]
    codes: np.ndarray  # int64, one per token
    ptr: np.ndarray  # int64, documents + 1

    @classmethod
    def of(cls, docs: Sequence[Sequence[str]]) -> BatchTokens:
        index: dict[str, int] = {}
        codes = [index.setdefault(token, len(index)) for doc in docs for token in doc]
        ptr = np.zeros(len(docs) + 1, np.int64)
        ptr[1:] = np.cumsum([len(doc) for doc in docs])
        return cls(list(index), np.asarray(codes, np.int64), ptr)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per document."""
        return np.diff(self.ptr)


def token_rows(tokens: BatchTokens, index: dict[str, int], words: list[str], binary: bool) -> sp.csr_matrix:
    """Rows of these documents over the vocabulary ``index``/``words``, which unseen words are
    appended to in order of first appearance (in place: the caller's copies); term counts, or
    1s when ``binary`` (canonical CSR: columns ascending in each row)."""
    columns = []
    for token in tokens.words:
        j = index.get(token)
        if j is None:
            j = index[token] = len(words)
            words.append(token)
        columns.append(j)
    n, width = len(tokens.ptr) - 1, len(words)
    cols = np.asarray(columns, np.int64)[tokens.codes]
    rows = np.repeat(np.arange(n, dtype=np.int64), tokens.lengths)
    cells, counts = np.unique(rows * width + cols, return_counts=True)
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum(np.bincount(cells // max(width, 1), minlength=n))
    data = np.ones(len(cells), np.float32) if binary else counts.astype(np.float32)
    return sp.csr_matrix((data, cells % max(width, 1), indptr), shape=(n, width))


def stack_rows(old: sp.csr_matrix, new: sp.csr_matrix) -> sp.csr_matrix:
    """``old`` with ``new``'s rows below, both widened to ``new``'s columns (old indices kept)."""
    old = sp.csr_matrix(old)
    indptr = np.r_[old.indptr, old.indptr[-1] + new.indptr[1:]]
    return sp.csr_matrix((np.r_[old.data, new.data.astype(old.data.dtype)], np.r_[old.indices, new.indices],
                          indptr), shape=(old.shape[0] + new.shape[0], new.shape[1]))


def replace_rows(old: sp.csr_matrix, rows: np.ndarray, new: sp.csr_matrix) -> sp.csr_matrix:
    """``old`` with its rows ``rows`` (distinct) replaced by ``new``'s, widened to ``new``'s columns."""
    stacked = stack_rows(old, new)
    order = np.arange(old.shape[0])
    order[np.asarray(rows, np.int64)] = old.shape[0] + np.arange(new.shape[0])
    return sp.csr_matrix(stacked[order])


@dataclass
class TextRows:
    """Catalog-text rows of some products, and a copy of the text with the words they brought."""

    text: CatalogText  # vocabularies and ``token_leaf`` grown; product rows not yet changed
    tokens: sp.csr_matrix
    bigrams: sp.csr_matrix
    bm25: sp.csr_matrix


def feature_docs(feature_texts: Sequence[str], categories: np.ndarray, words: CategoryWords
                 ) -> tuple[list[list[str]], list[list[str]]]:
    """Per product of these texts (title + brand) and leaf categories: its catalog-text tokens and
    character bigrams (its own and its leaf's, distinct, sorted)."""
    docs = [sorted(set(tokenize(t)) | set(words.feature_tokens.get(int(c), []))) for t, c in
            zip(feature_texts, categories, strict=True)]
    bigram_docs = [sorted(set(char_bigrams(t)) | set(words.feature_bigrams.get(int(c), []))) for t, c in
                   zip(feature_texts, categories, strict=True)]
    return docs, bigram_docs


def catalog_text_rows(text: CatalogText, feature_texts: list[str], categories: np.ndarray,
                      leaves: np.ndarray, words: CategoryWords, stats: FrozenBm25) -> TextRows:
    """Rows for products of these texts (title + brand) and leaf categories, weighted with the
    frozen ``stats`` (which grow with the new words, as ``token_leaf`` does)."""
    docs, bigram_docs = feature_docs(feature_texts, categories, words)
    return text_rows(text, BatchTokens.of(docs), BatchTokens.of(bigram_docs), leaves, stats)


def text_rows(text: CatalogText, docs: BatchTokens, bigram_docs: BatchTokens, leaves: np.ndarray,
              stats: FrozenBm25) -> TextRows:
    """:func:`catalog_text_rows` of products whose tokens and bigrams (:func:`feature_docs`) are these."""
    vocab, token_index = list(text.vocabulary), dict(text.token_index())
    tokens = token_rows(docs, token_index, vocab, binary=True)
    bigram_vocab, bigram_index = list(text.bigram_vocabulary), dict(text.bigram_index())
    bigrams = token_rows(bigram_docs, bigram_index, bigram_vocab, binary=True)
    first_new = len(text.vocabulary)
    new_df = np.bincount(tokens.indices, minlength=len(vocab))[first_new:]
    stats.grow(new_df)
    bm25 = stats.weights(tokens, np.diff(tokens.indptr).astype(np.float64))
    out = copy.copy(text)  # no __post_init__: the existing BM25 rows stay as they are
    out.vocabulary, out.bigram_vocabulary = vocab, bigram_vocab
    intents = new_word_intents(tokens[:, first_new:], leaves, text.token_leaf.shape[1], stats.documents)
    out.token_leaf = np.r_[text.token_leaf, intents]
    out._token_index, out._bigram_index = token_index, bigram_index
    return TextRows(out, tokens, bigrams, bm25)


def append_catalog_text(text: CatalogText, rows: TextRows) -> CatalogText:
    """A copy of ``text`` with these rows (:func:`catalog_text_rows`, :func:`text_rows`) appended
    (see the module docstring)."""
    out = rows.text
    out.product_tokens = stack_rows(text.product_tokens, rows.tokens)
    out.product_bigrams = stack_rows(text.product_bigrams, rows.bigrams)
    out.product_bm25 = stack_rows(text.product_bm25, rows.bm25)
    return out


def own_texts(snapshot_text: CatalogText, titles: Sequence[str], brand_ids: np.ndarray) -> list[str]:
    """Per product: its own text, title and brand name (the catalog text's)."""
    brands = [snapshot_text.brand_names.get(int(b), "") for b in np.asarray(brand_ids, np.int64)]
    return [f"{t} {b}".strip() for t, b in zip(titles, brands, strict=True)]


def search_docs(own: Sequence[str], categories: np.ndarray, words: CategoryWords) -> list[list[str]]:
    """Per product: its search index tokens (its own text's and its leaf's search words)."""
    return [tokenize(t) + words.search_tokens.get(int(c), []) for t, c in zip(own, categories, strict=True)]


def dense_texts(own: Sequence[str], categories: np.ndarray, words: CategoryWords) -> list[str]:
    """Per product: its text for the dense encoder (its own text and its leaf's display words)."""
    return [f"{t} {words.display_words(int(c))}".strip() for t, c in zip(own, categories, strict=True)]


def product_texts(snapshot_text: CatalogText, words: CategoryWords, titles: Sequence[str],
                  brand_ids: np.ndarray, categories: np.ndarray
                  ) -> tuple[list[str], list[list[str]], list[str]]:
    """Per product: its own text (title and brand name: the catalog text's), its search index
    tokens (with its leaf's search words) and its text for the dense encoder."""
    own = own_texts(snapshot_text, titles, brand_ids)
    return own, search_docs(own, categories, words), dense_texts(own, categories, words)


def new_word_intents(tokens: sp.csr_matrix, leaves: np.ndarray, n_leaves: int, documents: int) -> np.ndarray:
    """``token_leaf`` rows of words first seen in these products, as
    :func:`ranking.features.catalog_text.build_catalog_text` computes them (over these
    products, with the bundle's document count)."""
    n = tokens.shape[0]
    leaf = np.maximum(leaves, 0)
    onehot = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), leaf)), shape=(n, n_leaves))
    counts = np.asarray((tokens.T @ onehot).todense(), dtype=np.float32)
    df = counts.sum(axis=1, keepdims=True)
    return ((counts / np.maximum(df, 1)) * np.log1p(documents / np.maximum(df, 1))).astype(np.float32)
