"""Turning candidates plus request context into what feature functions read.

:func:`build_inputs` is the one entry for training (millions of logged cards at once)
and serving (one request's candidates): it looks products, stores and users up in the
snapshot, tokenises the distinct query texts once, and derives the time slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ranking.bounded_memo import BoundedMemo, read_only
from ranking.features.kept_dots import KeptDots
from ranking.features.snapshot import CatalogText, FeatureSnapshot, located
from ranking.recall.tokenize import char_bigrams, tokenize
from ranking.text import normalise

if TYPE_CHECKING:
    from ranking.features.product_table import ProductFeatureTable


def slot_of_hour(hour: np.ndarray) -> np.ndarray:
    """0 morning (06-12), 1 afternoon (12-18), 2 evening (18-06)."""
    h = np.asarray(hour)
    return np.where((h >= 6) & (h < 12), 0, np.where((h >= 12) & (h < 18), 1, 2)).astype(np.int8)


@dataclass
class Requests:
    """Context of each request in a batch (index = request index)."""

    user_id: np.ndarray  # int64, -1 when anonymous
    query_text: list[str | None]  # None off search
    hour: np.ndarray  # local hour of day 0-23
    surface: np.ndarray  # 0 search, 1 homepage, 2 channel


@dataclass
class QueryBatch:
    """The distinct queries of a batch, analysed once."""

    texts: list[str]
    tokens: sp.csr_matrix  # (nq, V) binary over the catalog vocabulary
    bigrams: sp.csr_matrix  # (nq, B) binary
    n_tokens: np.ndarray  # tokens per query, known or not
    n_bigrams: np.ndarray
    intent: np.ndarray  # (nq, L) P(leaf | query) from its tokens
    # a served search's kept batch (one text, kept per catalog text: query_batch) keeps its dots
    # with the product rows asked so far; None for every other batch
    kept_dots: KeptDots | None = field(default=None, compare=False, repr=False)
    # the brands each text names, with the catalog's brand names they were found among (by
    # identity): ranking.features.relevance_features.brand_match, made on its first read
    named_brands: tuple | None = field(default=None, compare=False, repr=False)


@dataclass
class FeatureInputs:
    """Aligned per-candidate arrays plus the snapshot they index into."""

    snapshot: FeatureSnapshot
    product_row: np.ndarray
    store_row: np.ndarray
    user_row: np.ndarray
    leaf: np.ndarray
    hour: np.ndarray
    slot: np.ndarray
    surface: np.ndarray
    query_index: np.ndarray  # -1 off search
    queries: QueryBatch
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    # per candidate, a product column as it was at the request (training's point in time:
    # training.learning.catalog_timeline); NaN where the snapshot's value stands
    as_of: dict[str, np.ndarray] = field(default_factory=dict)
    # the per-product features of the table ``product_row`` indexes, computed once per table
    # (ranking.features.product_table.ProductFeatureTable); None: each computed per batch
    per_product: ProductFeatureTable | None = None
    # every candidate is of one request (a served page): one user, hour, slot and surface, which a
    # feature may then read once (``user_row[0]``) instead of per candidate; False: any batch
    one_request: bool = False

    # what several features of the batch compute alike, made by the first that asks, by key (the
    # query's BM25 and token dots: ranking.features.relevance_features)
    shared: dict = field(default_factory=dict, init=False, repr=False)
    # per table, each candidate's row clipped to 0 and whether it is known: made once per batch
    # (``rows_of``) instead of once per column read (about 40 reads per served request)
    _rows: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.product_row)

    def rows_of(self, table: str) -> tuple[np.ndarray, np.ndarray]:
        """(row clipped to 0, row known) of each candidate in the snapshot's ``table``
        ("products", "stores" or "users"), computed on the first read."""
        hit = self._rows.get(table)
        if hit is None:
            rows = {"products": self.product_row, "stores": self.store_row, "users": self.user_row}[table]
            hit = self._rows[table] = located(rows)
        return hit

    def column(self, table: str, column: str) -> np.ndarray:
        """Each candidate's ``column`` of the snapshot's ``table`` (float64, NaN where unknown),
        the row masks made once per batch."""
        return getattr(self.snapshot, table).take_located(column, self.rows_of(table))

    def product_column(self, column: str) -> np.ndarray:
        """Each candidate's product ``column`` (float64, NaN where unknown): the snapshot's,
        or where :attr:`as_of` holds a value for the candidate, that one."""
        values = self.column("products", column)
        given = self.as_of.get(column)
        return values if given is None else np.where(np.isnan(given), values, given)


def _binary_rows(rows: list[int], cols: list[int], shape: tuple[int, int]) -> sp.csr_matrix:
    """The binary CSR matrix with a 1 at each (row, col): ``rows`` ascending, each row's
    columns distinct (a query's distinct known tokens). Made directly in canonical form (each
    row's columns sorted), as scipy's ``csr_matrix((ones, (rows, cols)))`` makes it but
    without its pass through COO and the duplicate summing (about 0.1 ms a matrix, two a search)."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int32)
    np.cumsum(np.bincount(np.asarray(rows, dtype=np.int64), minlength=shape[0]), out=indptr[1:])
    indices = np.asarray(cols, dtype=np.int32)
    for start, end in zip(indptr[:-1].tolist(), indptr[1:].tolist(), strict=True):
        indices[start:end].sort()
    ones = np.ones(len(indices), dtype=np.float32)
    matrix = sp.csr_matrix((ones, indices, indptr), shape=shape)
    matrix.has_canonical_format = True  # sorted and distinct: scipy need not check again
    return matrix


# width -> an empty (1, width) binary matrix scipy made (:func:`_binary_rows`), which a single text's
# rows copy (:func:`_one_binary_row`); a few widths (new products widen the catalog text's vocabulary)
_ONE_ROW: dict[int, sp.csr_matrix] = {}
ONE_ROW_WIDTHS_KEPT = 8


def _one_binary_row(cols: list[int], width: int) -> sp.csr_matrix:
    """``_binary_rows([0] * len(cols), cols, (1, width))`` (``cols`` distinct): a shallow copy of a
    kept empty (1, width) matrix scipy made, given this row's own arrays, in that matrix's index
    type. scipy's constructor checks cost ~25 us a matrix, two for each query a search sees first."""
    template = _ONE_ROW.get(width)
    if template is None:
        if len(_ONE_ROW) >= ONE_ROW_WIDTHS_KEPT:
            _ONE_ROW.clear()
        template = _ONE_ROW[width] = _binary_rows([], [], (1, width))
    # its shape and canonical flags; the template's arrays not touched (its attributes copied
    # directly: ``copy.copy`` goes through ``__reduce_ex__`` and sets them one by one)
    matrix = object.__new__(type(template))
    matrix.__dict__.update(template.__dict__)
    matrix.indices = np.array(sorted(cols), dtype=template.indices.dtype)
    matrix.indptr = np.array([0, len(cols)], dtype=template.indptr.dtype)
    matrix.data = np.ones(len(cols), dtype=template.data.dtype)
    return matrix


def analyse_queries(snapshot: FeatureSnapshot, texts: list[str], text: CatalogText | None = None
                    ) -> QueryBatch:
    """Tokens, character bigrams and category intent of distinct query texts, against ``text``
    (None: the snapshot's catalog text)."""
    text = snapshot.text if text is None else text
    tok_index, bi_index = text.token_index(), text.bigram_index()
    rows_t, cols_t, rows_b, cols_b = [], [], [], []
    n_tok = np.zeros(len(texts), dtype=np.float32)
    n_bi = np.zeros(len(texts), dtype=np.float32)
    for i, t in enumerate(texts):
        # sorted: a set's order follows the per-process string hash, and the float32 sums
        # below would round differently in another process (a Dask worker, a replica)
        toks = sorted(set(tokenize(t)))
        bis = sorted(set(char_bigrams(t)))
        n_tok[i], n_bi[i] = len(toks), len(bis)
        known = [tok_index[x] for x in toks if x in tok_index]
        rows_t += [i] * len(known)
        cols_t += known
        kb = [bi_index[x] for x in bis if x in bi_index]
        rows_b += [i] * len(kb)
        cols_b += kb
    shape_t = (len(texts), len(text.vocabulary))
    shape_b = (len(texts), len(text.bigram_vocabulary))
    if len(texts) == 1:  # a served search's query
        q_tok, q_bi = _one_binary_row(cols_t, shape_t[1]), _one_binary_row(cols_b, shape_b[1])
    else:
        q_tok, q_bi = _binary_rows(rows_t, cols_t, shape_t), _binary_rows(rows_b, cols_b, shape_b)
    # the rows of the query tokens only: ``q_tok @ token_leaf`` made scipy copy the whole
    # (V, L) matrix per call (``python -m bench.request_path``: the hydrate stage)
    leaves = text.token_leaf[np.asarray(cols_t, dtype=np.int64)]
    if len(texts) == 1:
        # one query's rows added in order from 0, as ``np.add.at`` adds them (a reduction over
        # the outer axis adds whole rows one after another), without its per-index set-up
        intent = np.add.reduce(leaves, axis=0, initial=np.float32(0), keepdims=True)
    else:
        intent = np.zeros((len(texts), text.token_leaf.shape[1]), dtype=np.float32)
        np.add.at(intent, np.asarray(rows_t, dtype=np.int64), leaves)
    total = intent.sum(axis=1, keepdims=True)
    intent = np.divide(intent, total, out=np.zeros_like(intent), where=total > 0)
    return QueryBatch(texts, q_tok, q_bi, n_tok, n_bi, intent)


def no_queries(snapshot: FeatureSnapshot) -> QueryBatch:
    """``analyse_queries(snapshot, [])``, made once per catalog text (a batch off search has no
    query; building its two empty sparse matrices cost about 0.1 ms a homepage). New products
    swap ``snapshot.text`` for a wider one, which gets its own."""
    cached = snapshot.derived.get("no_queries")
    if cached is None or cached[0] is not snapshot.text:
        text = snapshot.text  # read once: another thread may swap it
        cached = snapshot.derived["no_queries"] = (text, analyse_queries(snapshot, [], text))
    return cached[1]


# a served search's query analysed once per catalog text and kept (the mall's head queries repeat):
# its tokens, bigrams and intent cost about 0.1 ms a search (two small CSR matrices and the
# intent rows); a query not seen yet costs the same as before
QUERIES_KEPT = 1024


def query_batch(snapshot: FeatureSnapshot, texts: list[str]) -> QueryBatch:
    """``analyse_queries(snapshot, texts)`` for a batch's distinct query texts; a batch of one text
    (a served search) is kept per catalog text (``QUERIES_KEPT`` texts, the oldest out), its arrays
    read-only since request threads share it. New products or new titles swap ``snapshot.text``
    for another object, which gets its own."""
    if not texts:
        return no_queries(snapshot)
    if len(texts) > 1:
        return analyse_queries(snapshot, texts)
    text = snapshot.text  # read once: another thread may swap it
    kept = snapshot.derived.get("query_batches")
    if kept is None or kept[0] is not text:
        kept = snapshot.derived["query_batches"] = (text, BoundedMemo(QUERIES_KEPT))
    return kept[1].kept(texts[0], lambda: _kept(analyse_queries(snapshot, texts, text)))


def _kept(batch: QueryBatch) -> QueryBatch:
    """``batch`` made to be kept: every array it holds read-only (a kept batch is shared by
    threads), and a :class:`KeptDots` for its dots with the product rows."""
    batch.kept_dots = KeptDots()
    read_only((batch.tokens.data, batch.tokens.indices, batch.tokens.indptr, batch.bigrams.data,
               batch.bigrams.indices, batch.bigrams.indptr, batch.n_tokens, batch.n_bigrams, batch.intent))
    return batch


def build_inputs(
    snapshot: FeatureSnapshot,
    product_ids: np.ndarray,
    request_of_row: np.ndarray,
    requests: Requests,
    extra: dict[str, np.ndarray] | None = None,
    as_of: dict[str, np.ndarray] | None = None,
    per_product: ProductFeatureTable | None = None,
) -> FeatureInputs:
    """Everything the features need for candidates ``product_ids`` of requests ``request_of_row``;
    ``as_of``: product columns per candidate as they were at its request (NaN: the snapshot's);
    ``per_product``: the snapshot's per-product feature table (serving: rows, store rows and
    leaves are read from it, and ``compute_features`` gathers its features; not with ``as_of``)."""
    product_ids = np.asarray(product_ids, dtype=np.int64)
    req = np.asarray(request_of_row, dtype=np.int64)
    if per_product is not None and not as_of:
        # the table's own products (the live catalog may swap the snapshot's meanwhile); a
        # row of -1 reads the table's last entry, the unknown product's -1
        p_row = per_product.products.rows(product_ids)
        s_row, leaf = per_product.store_row[p_row], per_product.leaf[p_row]
    else:
        per_product = None
        p_row = snapshot.products.rows(product_ids)
        store_ids = snapshot.products.take("store_id", p_row, missing=-1).astype(np.int64)
        s_row = np.where(store_ids >= 0, snapshot.stores.rows(store_ids), -1)
        category = snapshot.products.take("category_id", p_row, missing=-1).astype(np.int64)
        leaf = np.where(category >= 0, snapshot.leaf_of_category(category), -1)
    u_row_req = snapshot.users.rows(np.asarray(requests.user_id, dtype=np.int64))
    hour = np.asarray(requests.hour)[req]
    # distinct queries of the batch
    normalised = [normalise(t) if t else None for t in requests.query_text]
    distinct = sorted({t for t in normalised if t})
    index = {t: i for i, t in enumerate(distinct)}
    q_of_req = np.array([index[t] if t else -1 for t in normalised], dtype=np.int64)
    return FeatureInputs(
        snapshot=snapshot,
        product_row=p_row,
        store_row=s_row,
        user_row=u_row_req[req],
        leaf=leaf,
        hour=hour,
        slot=slot_of_hour(np.asarray(requests.hour))[req],  # per request, then per row: the same
        surface=np.asarray(requests.surface)[req],
        query_index=q_of_req[req] if len(q_of_req) else np.full(len(req), -1),
        queries=query_batch(snapshot, distinct),
        extra=extra or {},
        as_of=as_of or {},
        per_product=per_product,
        one_request=len(requests.user_id) == 1,  # every row reads request 0 (or -1: the same one)
    )
