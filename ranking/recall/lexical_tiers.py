"""The lexical recall of a large catalog: candidates from each word's strongest postings, rescored exactly.

Up to ``recall.lexical_exact_max`` products the lexical recall scores every product holding a
query word (:meth:`~ranking.recall.query_words.QueryWordMatcher.lexical`, exact). Above it, as the
dense recall turns to HNSW above ``recall.exact_index_max_products``, it turns approximate in one documented
place, here:

1. **First tier.** A copy of the BM25 index keeps, for each column (word) held by more than
   ``recall.lexical_postings_per_term`` products, only that many of its postings: those where the
   word weighs most (the highest BM25 weights: short titles that hold it, ties to the lower row),
   "static index pruning" (Carmel et al., SIGIR 2001). The query's recall runs on that copy, with its
   synonym rewrite, as it would on the whole index, for ``recall.lexical_rescore_multiple`` times
   ``k`` candidates.
2. **Rescored exactly.** Those candidates are scored on the whole index (the typed words, their
   sub-word matches and every synonym match: :meth:`QueryWordMatcher.scores_at`), and the best ``k``
   by (score descending, product id ascending) are the recall, with those exact scores.

So a product the recall returns carries the score the exact recall gives it; what the tiers can
change is which products make the ``k``: a product holding the query's words only where they weigh
little (long titles) among more than ``lexical_postings_per_term`` holders, and not among the
first tier's best. With no column above the cap the first tier is the index itself and the recall
is exact (tested). On Home Depot's judged queries, capped at 2% of the catalog and rescoring 8
times ``k``, the relevant products recalled moved 0.816 -> 0.808 at ``k`` 100 (overlap with the
exact top 100: 0.981) (``python -m bench.lexical_tiers``, docs/recall.md "Large catalogs"). The
1M-product catalog's single characters hold up to 647,000 products each, which is what the exact
recall spends its time on there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from ranking.bounded_memo import BoundedMemo, read_only
from ranking.recall.lexical import BM25Index, top_rows
from ranking.recall.query_words import SYNONYM_WEIGHT, QueryWordMatcher, lexical_key
from ranking.row_lookup import RowLookup
from ranking.settings import RecallSettings


def strongest_postings(weights: sp.csc_matrix, per_term: int) -> sp.csc_matrix:
    """``weights`` (products x words, CSC, sorted postings) with each column cut to its ``per_term``
    highest weights (ties: the lower rows), rows still ascending within a column; ``weights`` itself
    when no column holds more."""
    df = np.diff(weights.indptr)
    long = np.flatnonzero(df > per_term)
    if not len(long):
        return weights
    keep = np.ones(len(weights.data), dtype=bool)
    for j in long:
        lo, hi = int(weights.indptr[j]), int(weights.indptr[j + 1])
        data = weights.data[lo:hi]
        kth = np.partition(data, len(data) - per_term)[len(data) - per_term]
        out = data < kth
        tied = np.flatnonzero(data == kth)
        above = len(data) - int(out.sum()) - len(tied)  # rows weighing more than the kth
        out[tied[per_term - above:]] = True  # of the tied, the lower rows stay
        keep[lo:hi] = ~out
    indptr = np.concatenate([[0], np.cumsum(np.minimum(df, per_term))]).astype(weights.indptr.dtype)
    cut = sp.csc_matrix((weights.data[keep], weights.indices[keep], indptr), shape=weights.shape)
    cut.has_sorted_indices = True  # a subsequence of sorted, distinct postings
    return cut


class TieredLexical:
    """:meth:`QueryWordMatcher.lexical`'s answer for a large catalog (module docstring): the first
    tier's matcher over the strongest postings proposes, the whole index's matcher rescores."""

    def __init__(self, whole: QueryWordMatcher, per_term: int, multiple: int, r: RecallSettings) -> None:
        self.whole = whole
        bm25 = whole.bm25
        self.first = QueryWordMatcher.of(
            BM25Index(bm25.vocabulary, strongest_postings(bm25.weights, per_term), bm25.product_ids), r)
        self.multiple = multiple
        self._rows = RowLookup(bm25.product_ids)
        # (query, rewrite, k, weight) -> the recall (read-only), as the whole matcher keeps its own
        self._kept: BoundedMemo[tuple, Any] = BoundedMemo(r.search_results_kept)

    def lexical(self, query: str, k: int, rewrite: Any = None,
                synonym_weight: float = SYNONYM_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` of the first tier's ``multiple * k`` candidates by their exact scores
        (ids, scores), by score then id; kept per (query, rewrite, ``k``, weight) for the last
        ``recall.search_results_kept`` of them."""
        return self._kept.kept(lexical_key(query, k, rewrite, synonym_weight),
                               lambda: read_only(self._lexical(query, k, rewrite, synonym_weight)))

    def _lexical(self, query: str, k: int, rewrite: Any,
                 synonym_weight: float) -> tuple[np.ndarray, np.ndarray]:
        if self.whole.typed_holders(query) <= self.multiple * k:  # no more rows than it would rescore
            return self.whole.lexical(query, k, rewrite, synonym_weight)
        ids, _ = self.first.lexical(query, self.multiple * k, rewrite, synonym_weight)
        if not len(ids):
            return ids, np.zeros(0, np.float32)
        rows = np.sort(self._rows.rows(ids))
        s = self.whole.scores_at(query, rows, rewrite, synonym_weight)
        keep = s > 0
        rows, s = rows[keep], s[keep]
        order = top_rows(s, rows, self.whole.bm25.product_ids, k)
        return self.whole.bm25.product_ids[rows[order]], s[order]


def lexical_recall(whole: QueryWordMatcher, r: RecallSettings) -> QueryWordMatcher | TieredLexical:
    """The lexical recall ``recall.lexical_exact_max`` chooses for ``whole``'s index: itself (exact)
    up to that many products, else :class:`TieredLexical`."""
    if len(whole.bm25.product_ids) <= r.lexical_exact_max:
        return whole
    return TieredLexical(whole, r.lexical_postings_per_term, r.lexical_rescore_multiple, r)
