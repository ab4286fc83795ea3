"""Relevance features: how well a product answers the search query (NaN off search).

Lexical score is BM25 over the title, brand and category words with binary term
frequency (titles are short): ``sum over shared tokens t of idf(t) (k1 + 1) /
(1 + k1 (1 - b + b len / avg len))``, idf = ``log(1 + (N - df + 0.5) / (df + 0.5))``;
the product side is precomputed with the snapshot (:mod:`ranking.features.bm25`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ranking.bounded_memo import read_only
from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature
from ranking.features.sparse_rows import hit_dots, row_dots, row_hits, stores_alike, stores_alike_everywhere
from ranking.membership import isin_few
from ranking.recall.tokenize import fold
from ranking.sorted_sets import unique_sorted

FEW_QUERIES = 4  # up to this many distinct queries, dot products go query by query


def _on_search(x: FeatureInputs) -> np.ndarray:
    return (x.query_index >= 0) & (x.product_row >= 0)


def _off_search(x: FeatureInputs) -> bool:
    """Whether no candidate of the batch has a query (a homepage, a rerank): every relevance
    feature is then NaN (:func:`_missing`), and none need build its masks."""
    return not len(x.queries.texts)


def _missing(x: FeatureInputs) -> np.ndarray:
    """A read-only float32 column of NaN, one per batch for every relevance feature that has none
    (off search: seven columns a homepage or rerank made and cast once each before)."""
    made = x.shared.get("no_relevance")
    if made is None or len(made) != x.n:
        made = np.full(x.n, np.nan, np.float32)
        made.flags.writeable = False
        x.shared["no_relevance"] = made
    return made


def _one_query(x: FeatureInputs) -> int | None:
    """The query row of a batch whose every candidate is on search with one query (a served
    search), else None."""
    _, q_rows, _, distinct = _search_rows(x)
    return distinct[0] if len(q_rows) == x.n and len(distinct) == 1 else None


def _search_rows(x: FeatureInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """(which candidates are on search, their query rows, their product rows, the distinct query
    rows): made once per batch for the three dot features (kept in the batch's ``shared``)."""
    made = x.shared.get("search_rows")
    if made is None:
        ok = _on_search(x)
        q_rows, p_rows = x.query_index[ok], x.product_row[ok]
        # a served search's rows all have its one query (``np.unique`` costs ~20 us a search)
        one = len(q_rows) and (q_rows == q_rows[0]).all()
        distinct = [int(q_rows[0])] if one else unique_sorted(q_rows).tolist()
        made = x.shared["search_rows"] = (ok, q_rows, p_rows, distinct)
    return made


def _pair_dots(q: sp.csr_matrix, matrices: tuple[sp.csr_matrix, ...], x: FeatureInputs, name: str
               ) -> list[np.ndarray]:
    """Row-wise dots of query rows and each of ``matrices``' product rows for every candidate on
    search (NaN elsewhere). Serving gathers the candidates' rows of the first matrix once; a later
    matrix that stores those rows alike (the BM25 weights of the token matrix) reads the same
    gather; a served query's batch keeps the dots of the rows it was asked for, by ``name``."""
    ok, q_rows, p_rows, distinct = _search_rows(x)
    if not len(q_rows):
        return [np.full(x.n, np.nan) for _ in matrices]
    first = matrices[0]
    if q.shape[1] < first.shape[1]:
        # words were added to the catalog text after the queries were read against it
        # (ranking.live.new_products appends columns, never renumbers them): same columns, wider
        q = sp.csr_matrix((q.data, q.indices, q.indptr), shape=(q.shape[0], first.shape[1]))
    kept = x.queries.kept_dots
    if len(distinct) > FEW_QUERIES:  # training batches: one sparse elementwise product
        values = [np.asarray(q[q_rows].multiply(p[p_rows]).sum(axis=1), dtype=np.float64).ravel()
                  for p in matrices]  # float64, as the NaN-filled columns they were written into
    elif kept is not None and len(distinct) == 1:  # a served query, kept: its rows dotted before
        alike = _alike(x, matrices, name)
        values = kept.dots(name, matrices, p_rows, lambda rows: _few_query_dots(
            q, matrices, np.full(len(rows), distinct[0]), rows, distinct, alike))
    else:
        values = _few_query_dots(q, matrices, q_rows, p_rows, distinct, _alike(x, matrices, name))
    if len(q_rows) == x.n:  # every candidate on search (a served search): the values as they are
        return values
    outs = [np.full(x.n, np.nan) for _ in matrices]
    for out, value in zip(outs, values, strict=True):
        out[ok] = value
    return outs


def _alike(x: FeatureInputs, matrices: tuple[sp.csr_matrix, ...], name: str) -> tuple[bool, ...]:
    """Whether each of ``matrices`` stores every entry where the first does (the first itself:
    True), checked once per set of matrix objects and kept with the snapshot by ``name``."""
    if len(matrices) == 1:
        return (True,)
    key = ("matrices_alike", name)
    kept = x.snapshot.derived.get(key)
    if kept is None or len(kept[0]) != len(matrices) or any(
            a is not b for a, b in zip(kept[0], matrices, strict=True)):
        first = matrices[0]
        verdict = tuple(p is first or stores_alike_everywhere(first, p) for p in matrices)
        kept = x.snapshot.derived[key] = (tuple(matrices), verdict)
    return kept[1]


def _few_query_dots(q: sp.csr_matrix, matrices: tuple[sp.csr_matrix, ...], q_rows: np.ndarray,
                    p_rows: np.ndarray, distinct: list[int], alike: tuple[bool, ...]) -> list[np.ndarray]:
    """:func:`_pair_dots`' values for a batch of few queries (serving: one), query by query, the
    candidates' rows of the first matrix gathered directly and once for every matrix stored alike
    (``alike``: everywhere, else checked on the gathered rows)."""
    first = matrices[0]
    values = [np.empty(len(q_rows)) for _ in matrices]
    for row in distinct:
        mine = q_rows == row if len(distinct) > 1 else slice(None)
        start, end = q.indptr[row], q.indptr[row + 1]
        columns, weights = q.indices[start:end], q.data[start:end]
        hits = row_hits(first, p_rows[mine], columns)
        for value, p, everywhere in zip(values, matrices, alike, strict=True):
            value[mine] = (hit_dots(hits, p.data, weights) if everywhere or stores_alike(hits, first, p)
                           else row_dots(p, p_rows[mine], columns, weights))
    return values


def _token_dots(x: FeatureInputs) -> tuple[np.ndarray, np.ndarray]:
    """(the BM25 dot, the count of shared tokens) of every candidate: ``lexical_score`` and
    ``term_overlap`` read the same candidates' rows of two matrices stored alike, so the first
    of them to run gathers them for both (kept in the batch's ``shared``, by the path taken)."""
    key = ("token_dots", FEW_QUERIES)
    made = x.shared.get(key)
    if made is None:
        text = x.snapshot.text
        tokens, bm25 = _pair_dots(x.queries.tokens, (text.product_tokens, text.product_bm25), x, "tokens")
        made = x.shared[key] = (bm25, tokens)
    return made


@feature("lexical_score", "relevance", "BM25 of the query over title, brand and category words",
         label="query words in the text (BM25)", unit="number")
def lexical_score(x: FeatureInputs) -> np.ndarray:
    if _off_search(x):
        return _missing(x)
    return _token_dots(x)[0]


@feature("term_overlap", "relevance", "share of the query's words found in the product's text",
         label="query words found", unit="percent")
def term_overlap(x: FeatureInputs) -> np.ndarray:
    if _off_search(x):
        return _missing(x)
    shared = _token_dots(x)[1]
    n = x.queries.n_tokens[np.maximum(x.query_index, 0)]
    return shared / np.maximum(n, 1)


@feature("char_overlap", "relevance",
         "share of the query's character bigrams found in the product's text",
         label="query characters found", unit="percent")
def char_overlap(x: FeatureInputs) -> np.ndarray:
    if _off_search(x):
        return _missing(x)
    shared = _pair_dots(x.queries.bigrams, (x.snapshot.text.product_bigrams,), x, "bigrams")[0]
    n = x.queries.n_bigrams[np.maximum(x.query_index, 0)]
    return shared / np.maximum(n, 1)


@feature("category_intent", "relevance",
         "P(product's category | query words), from where the catalog uses those words",
         label="category fits the query", unit="percent")
def category_intent(x: FeatureInputs) -> np.ndarray:
    if _off_search(x):
        return _missing(x)
    one = _one_query(x)
    if one is not None:  # the query's row after a NaN that every unknown (negative) leaf reads
        return np.concatenate(([np.nan], x.queries.intent[one])).take(x.leaf + 1, mode="clip")
    ok = _on_search(x) & (x.leaf >= 0)
    out = np.full(x.n, np.nan)
    if ok.any():
        out[ok] = x.queries.intent[x.query_index[ok], x.leaf[ok]]
    return out


@feature("brand_match", "relevance", "1 if the query names the product's brand",
         label="query names its brand", unit="flag")
def brand_match(x: FeatureInputs) -> np.ndarray:
    if _off_search(x):
        return _missing(x)
    ok = _search_rows(x)[0]  # the dot features' mask: _on_search's
    out = np.full(x.n, np.nan)
    if not ok.any():
        return out
    brand = x.snapshot.products.take("brand_id", x.product_row, missing=-1).astype(np.int64)
    named = _named_brands(x)
    if len(named) == 1:  # a served search: the one query of every candidate on search
        out[ok] = isin_few(brand[ok], named[0])
        return out
    named_q = np.repeat(np.arange(len(named), dtype=np.int64), [len(b) for b in named])
    named_b = np.concatenate(named)
    keep = named_b >= -1  # a candidate's brand is -1 (unknown) or an id
    named_q, named_b = named_q[keep], named_b[keep]
    stride = int(max(brand.max(initial=0), named_b.max(initial=0))) + 2  # brand -1 -> 0
    keys = x.query_index[ok].astype(np.int64) * stride + (brand[ok] + 1)
    out[ok] = np.isin(keys, named_q * stride + (named_b + 1))
    return out


def _named_brands(x: FeatureInputs) -> list[np.ndarray]:
    """Each query's named brands (the texts are normalised already: their search forms), found by
    the names' openings, not by a test of each candidate brand's name. Kept with the batch (a
    served query's is kept across its searches) while the catalog's brand names are the same
    object: new products or titles swap the catalog text, and its names, for another."""
    text = x.snapshot.text
    names = text.brand_search_names()
    kept = x.queries.named_brands
    if kept is not None and kept[0] is names:
        return kept[1]
    named = [read_only(np.asarray(text.brands_named_in(fold(t)), dtype=np.int64)) for t in x.queries.texts]
    x.queries.named_brands = (names, named)  # one store: a reader sees the old pair or the new
    return named


@feature("query_length", "relevance", "number of words in the query",
         label="query length (words)", unit="count")
def query_length(x: FeatureInputs) -> np.ndarray:
    if _off_search(x):
        return _missing(x)
    one = _one_query(x)
    if one is not None:
        return np.full(x.n, x.queries.n_tokens[one], np.float64)
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
    if value is None or _off_search(x):
        return _missing(x)
    if _one_query(x) is not None:  # every candidate has the query
        return value
    return np.where(x.query_index >= 0, value, np.nan)
