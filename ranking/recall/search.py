"""Search recall: BM25 and dense text embeddings over the catalog, fused; built offline.

``SearchRecall.build(products, brands, categories)`` indexes each product's title, brand
name and leaf and top category names (Chinese and English;
:func:`ranking.product_text.product_texts`) twice: BM25 (:mod:`ranking.recall.lexical`)
and char-n-gram LSA embeddings in FAISS (:mod:`ranking.recall.dense`,
:mod:`ranking.recall.vector_index`). Per query each source returns its top ``k`` with its
score; the pipeline keeps each source's score and rank (provenance), and
:func:`ranking.recall.fusion.reciprocal_rank_fusion` gives the fused list for offline use.
``dense_similarity`` (query . product cosine) is a ranking feature for any candidate,
computed the same way in training and serving. A query with no searchable words
(:func:`ranking.recall.tokenize.searchable`: only punctuation, symbols, emoji) matches
nothing in either source and has no similarity: BM25 finds no token, and the dense side
does not search with the vector the encoder would still make of its characters (arbitrary
products). The service refuses such a query with a 422 before it gets here.
``correct(query)`` rewrites words no product text holds to catalog words
(:mod:`ranking.recall.spelling`) once ``use_speller_from`` has built the corrector from the
BM25 vocabulary (identity until then); the service corrects a query through it before
recall and features see it. The manifest records the tokenizer version of the BM25 tokens
and the encoder's n-grams; ``load`` reads a part of an older version only if the current
tokenizer reads its catalog text alike (:func:`ranking.recall.tokenize.require_current_tokens`).
Lexical recall and the words a page may claim it matched go through the query's words
(:mod:`ranking.recall.query_words`): a product must hold a whole query word (not one
character of a Chinese word) to be recalled lexically, and a word no product holds matches
the catalog words it is part of; ``use_query_words_from`` sets that matching from the
``recall.subword_*`` settings (their defaults until called).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ranking.bounded_memo import BoundedMemo, read_only
from ranking.product_text import product_texts
from ranking.recall.dense import TextEncoder
from ranking.recall.fusion import reciprocal_rank_fusion
from ranking.recall.lexical import BM25_B, BM25_K1, BM25Index
from ranking.recall.pinyin import PinyinReader
from ranking.recall.query_words import SYNONYM_WEIGHT, QueryWordMatcher
from ranking.recall.spelling import QuerySpeller, SpellCorrection
from ranking.recall.tokenize import TOKENIZER_VERSION, require_current_tokens, searchable
from ranking.recall.vector_index import VectorIndex
from ranking.row_lookup import RowLookup
from ranking.settings import MerchandisingSettings, RecallSettings
from ranking.sorted_sets import unique_sorted
from ranking.text import normalise

# earlier indexes whose kept dense recall an index grown from them by appended rows (new products)
# reads: a query kept there is answered from its kept list and a scan of the rows appended since
# (VectorIndex.top_after_append), not a scan of every row; each at most ``recall.search_results_kept``
DENSE_CARRIED = 2
QUERY_VECTORS_KEPT = 4096  # query texts whose dense vectors are kept (64 floats each: ~1 MB)
SIMILARITIES_PER_TEXT = 2048  # cosines kept per query text across its candidate lists (~24 KB)
_NO_IDS, _NO_COSINES = read_only(np.zeros(0, np.int64)), read_only(np.zeros(0, np.float32))


@lru_cache(maxsize=QUERY_VECTORS_KEPT)
def _search_text(query: str) -> str | None:
    """``query`` as :meth:`SearchRecall.dense_similarity` embeds it (normalised), None when it
    has no searchable word; kept per text (a repeated query's normalising and token scan)."""
    return normalise(query) if searchable(query) else None


def encoder_folder(folder: Path) -> Path:
    """Where a saved search recall (``folder``: :meth:`SearchRecall.save`'s) keeps its text encoder."""
    return Path(folder) / "encoder"


def speller_of(bm25: BM25Index, recall_settings: RecallSettings, grown_from: QuerySpeller | None = None
               ) -> tuple[QuerySpeller | None, Callable[[str], SpellCorrection]]:
    """The spelling corrector over ``bm25``'s vocabulary (:meth:`SearchRecall.use_speller_from`)
    and the cached function correcting a query with it; (None, as typed) when correction is off.
    ``grown_from``: the served corrector of the vocabulary ``bm25``'s grew from (a batch of new
    products): its delete index and characters' readings are reused, the result a fresh build's."""
    r = recall_settings
    if not r.spelling_correction:
        return None, SpellCorrection.as_typed
    df = bm25.document_frequency()
    pinyin = None
    if r.pinyin_queries:
        pinyin = PinyinReader(df, min_df=r.spelling_min_df, min_length=r.pinyin_min_length,
                              grown_from=grown_from.pinyin if grown_from is not None else None)
    speller = QuerySpeller(df, min_df=r.spelling_min_df, max_distance=r.spelling_max_distance,
                           min_length=r.spelling_min_length,
                           min_length_two_edits=r.spelling_min_length_two_edits, pinyin=pinyin,
                           grown_from=grown_from)
    return speller, lru_cache(maxsize=r.spelling_cache_queries)(speller.correct)


class SearchRecall:
    def __init__(self, bm25: BM25Index, encoder: TextEncoder, index: VectorIndex,
                 vectors: np.ndarray, manifest: dict) -> None:
        self.bm25, self.encoder, self.index = bm25, encoder, index
        self.vectors = vectors  # (products, dim) aligned with bm25.product_ids (ascending as built)
        self.product_ids = bm25.product_ids
        self._rows = RowLookup(self.product_ids)
        self.manifest = manifest
        self.speller: QuerySpeller | None = None
        self._correct: Callable[[str], SpellCorrection] = SpellCorrection.as_typed
        self._query_settings = RecallSettings()  # until use_query_words_from
        self.query_words = self._matcher(self._query_settings)
        self.synonym_weight = SYNONYM_WEIGHT  # until use_synonyms_from
        # query text -> its vector (read-only): a text's vector never changes for this encoder,
        # and encoding it cost about 0.25 ms a search page; up to QUERY_VECTORS_KEPT, oldest out
        self._kept_vectors: BoundedMemo[str, np.ndarray] = BoundedMemo(QUERY_VECTORS_KEPT)
        self._dense_kept = self._kept_for(index)
        self._similarity_kept = self._similarities_for(self._rows, vectors)

    def _kept_for(self, index: VectorIndex | None, carried: tuple = ()) -> tuple:
        """(``index``, (query, k) -> its dense recall, ``carried``): swapped as one value, so a search
        that read one index keeps its result beside that index's, never beside a newer one's.
        ``carried``: (size, kept recall) of up to :data:`DENSE_CARRIED` earlier indexes ``index``
        extends by appended rows, newest first (:meth:`replace_products`)."""
        return index, BoundedMemo(self._query_settings.search_results_kept), carried

    def _similarities_for(self, rows: RowLookup, vectors: np.ndarray) -> tuple:
        """(``rows``, ``vectors``, (query, candidate ids' bytes) -> their cosines, query -> the ids
        whose cosines were computed for it (sorted) and those cosines): swapped as one value, so a
        page's similarities are kept beside the rows and vectors that made them."""
        kept = self._query_settings.search_results_kept
        return rows, vectors, BoundedMemo(kept), BoundedMemo(kept)

    def _matcher(self, r: RecallSettings) -> QueryWordMatcher:
        return QueryWordMatcher.of(self.bm25, r)

    def use_query_words_from(self, recall_settings: RecallSettings) -> SearchRecall:
        """Match query words as the ``recall.subword_*`` settings say (sub-word length, cap, weight)."""
        self._query_settings = recall_settings
        self.query_words = self._matcher(recall_settings)
        self._dense_kept = self._kept_for(self.index)
        self._similarity_kept = self._similarities_for(self._rows, self.vectors)
        return self

    def use_synonyms_from(self, merchandising: MerchandisingSettings) -> SearchRecall:
        """Weigh the operator's synonym terms as ``merchandising.synonym_weight`` says."""
        self.synonym_weight = merchandising.synonym_weight
        return self

    def use_speller_from(self, recall_settings: RecallSettings) -> SearchRecall:
        """Build the spelling corrector over this catalog's vocabulary as ``recall.spelling_*``
        settings say, with the pinyin reader unless ``recall.pinyin_queries`` is off (none
        when correction is switched off: ``correct`` is then the identity)."""
        return self.use_speller(speller_of(self.bm25, recall_settings))

    def use_speller(self, made: tuple[QuerySpeller | None, Callable[[str], SpellCorrection]]) -> SearchRecall:
        """Correct queries with a corrector :func:`speller_of` built (for an index about to be
        swapped in: :mod:`ranking.live.new_products` builds it before the swap, not after)."""
        self.speller, self._correct = made
        return self

    def replace_products(self, bm25: BM25Index, index: VectorIndex, vectors: np.ndarray,
                         appended: bool = False) -> None:
        """Swap in indexes that hold more products (appended rows: every existing row kept;
        :mod:`ranking.live.new_products`) or changed ones (``retext``), in an order that keeps
        concurrent queries whole: the row-aligned vectors before the id lookup that hands their
        rows out. ``appended``: ``index`` is the served one with rows appended, so the dense
        recall kept for the served one (and those it carried) stays readable by the new one
        (:meth:`dense`); otherwise it is dropped."""
        served, kept, carried = self._dense_kept
        grown = appended and served is not None and index.extends(served)
        self.vectors = vectors
        self.index = index
        self._dense_kept = self._kept_for(index, ((served.size, kept), *carried)[:DENSE_CARRIED]
                                          if grown else ())
        self.bm25 = bm25
        self.product_ids = bm25.product_ids
        self._rows = RowLookup(bm25.product_ids)
        self._similarity_kept = self._similarities_for(self._rows, vectors)
        self.query_words = self._matcher(self._query_settings)

    def dense_only(self) -> SearchRecall:
        """This recall reduced to what :meth:`dense_similarity` reads (encoder, vectors and the
        id -> row lookup), so shipping it to Dask workers does not carry the BM25 postings or
        the FAISS index; the copy knows its own fields, so a new one cannot be forgotten."""
        light = object.__new__(type(self))
        light.__dict__.update(encoder=self.encoder, vectors=self.vectors, product_ids=self.product_ids,
                              _rows=self._rows, bm25=None, index=None, manifest={}, speller=None,
                              _correct=SpellCorrection.as_typed, query_words=None,
                              _query_settings=self._query_settings, synonym_weight=self.synonym_weight,
                              _kept_vectors=BoundedMemo(QUERY_VECTORS_KEPT),
                              _dense_kept=(None, BoundedMemo(0), ()),
                              _similarity_kept=(self._rows, self.vectors, BoundedMemo(0), BoundedMemo(0)))
        return light

    def correct(self, query: str) -> SpellCorrection:
        """The query to search: the one place a query is spelling-corrected (the service
        through ``Engine.correct_query``, the Home Depot eval directly); as typed without a
        corrector."""
        return self._correct(query)

    @classmethod
    def build(cls, products: pd.DataFrame, brands: pd.DataFrame, categories: pd.DataFrame,
              dim: int = 64, exact_max: int = 100_000, seed: int = 7, k1: float = BM25_K1,
              b: float = BM25_B) -> SearchRecall:
        products = products.sort_values("product_id")
        return cls.from_texts(product_texts(products, brands, categories, top_category=True),
                              products.product_id.to_numpy(np.int64), dim=dim, exact_max=exact_max, seed=seed,
                              k1=k1, b=b)

    @classmethod
    def from_texts(cls, texts: list[str], ids: np.ndarray, dim: int = 64, exact_max: int = 100_000,
                   seed: int = 7, k1: float = BM25_K1, b: float = BM25_B) -> SearchRecall:
        """Index ``texts`` (one per product id, ids ascending): any catalog, not only the mall's.
        ``k1`` and ``b`` are BM25's (settings ``recall.bm25_k1``, ``recall.bm25_b``): baked into
        the index's weights here, so they are the manifest's from then on."""
        started = time.perf_counter()
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) > 1 and not (np.diff(ids) > 0).all():
            raise ValueError("product ids must be unique and ascending")
        bm25 = BM25Index.build(texts, ids, k1=k1, b=b)
        encoder, vectors = TextEncoder.fit(texts, dim=dim, seed=seed)
        index = VectorIndex.build(vectors, ids, exact_max=exact_max)
        rng = np.random.default_rng(seed)
        sample = vectors[rng.choice(len(vectors), size=min(200, len(vectors)), replace=False)]
        manifest = {
            "products": len(ids), "tokenizer_version": TOKENIZER_VERSION,
            "vocabulary": len(bm25.vocabulary), "bm25_k1": k1, "bm25_b": b, "dense_dim": encoder.dim,
            "index": index.kind, "recall@100_vs_exact": index.recall_vs_exact(sample, min(100, len(ids))),
            "build_seconds": round(time.perf_counter() - started, 2),
        }
        return cls(bm25, encoder, index, vectors, manifest)

    # ---- queries ---------------------------------------------------------------------
    def lexical(self, query: str, k: int, rewrite: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Lexical recall of ``query``, with the synonym ``rewrite``'s terms as alternatives
        of the words they stand for (:meth:`QueryWordMatcher.scores`)."""
        return self.query_words.lexical(query, k, rewrite, self.synonym_weight)

    def query_vectors(self, texts: list[str], memo: dict | None = None) -> np.ndarray:
        """``encoder.encode(texts)``; one text's row is kept in ``memo`` (a request's
        ``hydrated`` dict) when given, so the dense source and the ``dense_similarity`` feature
        of one search page encode its query once (about 0.5 ms each), row for row the same,
        and across requests for the last :data:`QUERY_VECTORS_KEPT` texts (a repeated query is
        not encoded again: the same encoder gives the same row)."""
        if memo is None or len(texts) != 1:
            return self.encoder.encode(texts)
        key = (self, "query_vector", texts[0])
        vector = memo.get(key)
        if vector is None:
            vector = memo[key] = self._kept_vector(texts[0])
        return vector

    def _kept_vector(self, text: str) -> np.ndarray:
        """``encoder.encode([text])`` (1 x dim, read-only), kept per text, oldest out."""
        return self._kept_vectors.kept(text, lambda: read_only(self.encoder.encode([text])))

    def dense(self, query: str, k: int, memo: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` products whose text embeddings are nearest the query's (ids, cosines), kept
        per (query, ``k``) beside the index that answered (``recall.search_results_kept``,
        read-only arrays): the scan gives the same answer every repeat (docs/recall.md). After
        new products an index with rows appended answers a query kept for the one it grew from
        from that list and a scan of the appended rows, when that is provably its own scan's
        answer (:meth:`VectorIndex.top_after_append`); else it scans every row."""
        if _search_text(query) is None:  # kept per text: a token scan cost ~5 us, twice a search
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        index, kept, carried = self._dense_kept

        def scan() -> tuple[np.ndarray, np.ndarray]:
            vector = self.query_vectors([query], memo)
            for size, earlier in carried:
                got = earlier.get((query, k))
                if got is not None:
                    grown = index.top_after_append(vector, k, *got, size)
                    if grown is not None:
                        return read_only(grown)
                    break
            scores, ids = index.search(vector, k)
            keep = ids[0] >= 0
            return read_only((ids[0][keep], scores[0][keep]))

        return kept.kept((query, k), scan)

    def dense_batch(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of shape (queries, k) for many queries at once; id -1 pads (and fills
        the row of a query with no searchable words)."""
        scores, ids = self.index.search(self.encoder.encode(queries), k)
        blank = np.array([not searchable(q) for q in queries], dtype=bool)
        ids[blank], scores[blank] = -1, np.finfo(np.float32).min  # faiss's own padding
        return ids, scores

    def hybrid(self, query: str, k: int, rrf_k: int = 60) -> tuple[np.ndarray, np.ndarray]:
        lex, _ = self.lexical(query, k)
        den, _ = self.dense(query, k)
        return reciprocal_rank_fusion([lex, den], rrf_k, limit=k)

    def dense_similarity(self, query_texts: list[str | None], request_of_row: np.ndarray,
                         product_ids: np.ndarray, memo: dict | None = None) -> np.ndarray:
        """Cosine of each row's query and product embeddings (NaN off search / unknown product);
        ``memo``: see :meth:`query_vectors`."""
        out = np.full(len(product_ids), np.nan, dtype=np.float32)
        texts = [normalise(t) if t and searchable(t) else None for t in query_texts]
        distinct = sorted({t for t in texts if t})
        if not distinct or len(product_ids) == 0:
            return out
        q_vec = self.query_vectors(distinct, memo)
        q_of_req = np.array([distinct.index(t) if t else -1 for t in texts], dtype=np.int64)
        q = q_of_req[np.asarray(request_of_row, dtype=np.int64)]
        pos = self._rows.rows(np.asarray(product_ids, dtype=np.int64))  # before the vectors (swap order)
        vectors = self.vectors
        known = (pos >= 0) & (q >= 0)
        rows = np.flatnonzero(known)
        out[rows] = np.einsum("ij,ij->i", q_vec[q[rows]], vectors[pos[rows]])
        return out

    def query_similarity(self, query: str | None, product_ids: np.ndarray, memo: dict | None = None
                         ) -> np.ndarray:
        """:meth:`dense_similarity` of one request's ``query`` (read-only, float32), kept per (query,
        the candidate ids in order) beside the rows and vectors that made it (``recall.search_results_kept``):
        a cosine depends only on the query's vector and the product's row, neither of which changes
        for these vectors (new products swap in new ones: :meth:`replace_products`), and a repeated
        search's candidates after the filters are mostly the same list. Computed as
        :meth:`dense_similarity` computes it, so the values are its bits."""
        ids = np.asarray(product_ids, dtype=np.int64)
        text = _search_text(query) if query else None
        if text is None or not len(ids):
            return read_only(np.full(len(ids), np.nan, dtype=np.float32))
        lookup, vectors, kept, per_text = self._similarity_kept
        key = (text, ids.tobytes())
        got = kept.get(key)
        if got is None:
            made = self._text_similarities(text, ids, (lookup, vectors, per_text), memo)
            got = kept.put(key, read_only(made))
        return got

    def _text_similarities(self, text: str, ids: np.ndarray, made_by: tuple, memo: dict | None) -> np.ndarray:
        """:meth:`query_similarity`'s cosines for a candidate list not seen with ``text``: those
        computed for the text before (its other lists: the same query's candidates differ by a few
        products from shopper to shopper, and for one shopper as the products shown to them are
        filtered out) gathered, only the others computed, then kept with them (up to
        :data:`SIMILARITIES_PER_TEXT`). A row's cosine is one dot product of the row's vector, the
        same bits whichever rows it is computed beside."""
        lookup, vectors, per_text = made_by
        known_ids, known = per_text.get(text) or (_NO_IDS, _NO_COSINES)
        out = np.full(len(ids), np.nan, dtype=np.float32)
        if len(known_ids):
            at = np.minimum(np.searchsorted(known_ids, ids), len(known_ids) - 1)
            have = known_ids[at] == ids
            out[have] = known[at[have]]
            fresh = np.flatnonzero(~have)
            if not len(fresh):
                return out
            new_ids = ids[fresh]
        else:  # a text asked for the first time (or its list started again): every id is new
            fresh, new_ids = np.arange(len(ids)), ids
        pos = lookup.rows(new_ids)
        rows = np.flatnonzero(pos >= 0)
        q_vec = self.query_vectors([text], memo)
        # each row's dot with the one query vector, summed as ``einsum("ij,ij->i")`` of the vector
        # repeated per row sums it (the same contiguous inner loop over the 64 values), without
        # the repeated (rows x 64) copy: tests/test_search_results_kept.py checks the bits
        out[fresh[rows]] = np.einsum("ij,j->i", vectors[pos[rows]], q_vec[0])
        merged_ids, merged = np.concatenate([known_ids, new_ids]), np.concatenate([known, out[fresh]])
        if len(merged_ids) > SIMILARITIES_PER_TEXT:  # start again from this list's
            merged_ids, merged = ids, out
        kept_ids, first = unique_sorted(merged_ids, return_index=True)  # a repeated id once (the same cosine)
        per_text.put(text, (read_only(kept_ids), read_only(merged[first])))
        return out

    # ---- persistence -----------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        self.bm25.save(folder)
        self.encoder.save(encoder_folder(folder))
        self.index.save(folder / "faiss")
        np.save(folder / "vectors.npy", self.vectors)
        (folder / "search_manifest.json").write_text(json.dumps(self.manifest, indent=2))

    @classmethod
    def load(cls, folder: Path, catalog_characters: Iterable[str] | None = None) -> SearchRecall:
        """The part saved in ``folder``. One saved before tokenizer versions were recorded
        (version 1) needs ``catalog_characters``, the characters of the catalog text it was
        built from (``CatalogText.characters()`` of the bundle's snapshot), to be read as
        the current version; :class:`~ranking.recall.tokenize.TokenizerVersionError` otherwise."""
        folder = Path(folder)
        manifest = json.loads((folder / "search_manifest.json").read_text())
        require_current_tokens(manifest.get("tokenizer_version", 1), catalog_characters,
                               f"the search recall in {folder}")
        return cls(BM25Index.load(folder), TextEncoder.load(encoder_folder(folder)),
                   VectorIndex.load(folder / "faiss"), np.load(folder / "vectors.npy", allow_pickle=False),
                   manifest)
