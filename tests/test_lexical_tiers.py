"""A large catalog's lexical recall (ranking/recall/lexical_tiers.py): candidates from each word's
strongest postings, rescored on the whole index; exact scores always, exact recall when no word is
cut; chosen by the catalog's size."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex
from ranking.recall.lexical import BM25Index
from ranking.recall.lexical_tiers import TieredLexical, lexical_recall, strongest_postings
from ranking.recall.query_words import QueryWordMatcher
from ranking.recall.search import SearchRecall
from ranking.settings import RecallSettings

WORDS = ["phone", "case", "leather", "rice", "cooker", "drill", "cordless", "battery", "kit", "stand",
         "手机", "手机壳", "透明", "大米", "电饭煲", "red", "blue", "big", "small", "pro"]
PHONE = Synonym(terms=["phone", "手机"], one_way=True, reason="shoppers type phone", id="phone")
DRILL = Synonym(terms=["cordless drill", "battery drill"], reason="same tool", id="drill")
QUERIES = ["phone case", "red phone", "cordless drill", "big rice cooker", "手机壳 透明", "pro kit",
           "leather", "blue small stand", "电饭煲", "red blue big small pro"]


def _texts(n: int = 600, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, len(WORDS) + 1)  # a few words held by most titles, as single characters are
    p /= p.sum()
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 9)), p=p)) for _ in range(n)]


@pytest.fixture(scope="module")
def whole() -> QueryWordMatcher:
    texts = _texts()
    return QueryWordMatcher.of(BM25Index.build(texts, np.arange(10, 10 + len(texts))), RecallSettings())


def _rewrite(query: str):
    return SynonymIndex([PHONE, DRILL]).rewrite(query)


def test_strongest_postings_keep_each_long_column_s_highest_weights_in_row_order(whole) -> None:
    w = whole.bm25.weights
    cut = strongest_postings(w, 50)
    df = np.diff(w.indptr)
    assert (df > 50).any() and (df <= 50).any()
    assert np.array_equal(np.diff(cut.indptr), np.minimum(df, 50))
    for j in range(w.shape[1]):
        rows, data = w.indices[w.indptr[j]:w.indptr[j + 1]], w.data[w.indptr[j]:w.indptr[j + 1]]
        kept_rows = cut.indices[cut.indptr[j]:cut.indptr[j + 1]]
        assert np.all(np.diff(kept_rows) > 0)
        if len(rows) <= 50:
            assert np.array_equal(kept_rows, rows)
            continue
        best = np.lexsort((rows, -data))[:50]  # highest weight, then the lower row
        assert np.array_equal(kept_rows, np.sort(rows[best]))
        assert np.array_equal(cut.data[cut.indptr[j]:cut.indptr[j + 1]], data[np.sort(best)])
    assert cut.has_canonical_format
    assert strongest_postings(w, int(df.max())) is w


def test_strongest_postings_break_ties_at_the_cut_by_the_lower_row() -> None:
    import scipy.sparse as sp
    data = np.array([1.0, 2.0, 2.0, 2.0, 3.0], np.float32)
    w = sp.csc_matrix((data, (np.arange(5), np.zeros(5, int))), shape=(5, 1))
    cut = strongest_postings(w, 3)  # 3.0, then two of the three tied 2.0s: rows 1 and 2
    assert cut.indices.tolist() == [1, 2, 4] and cut.data.tolist() == [2.0, 2.0, 3.0]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("synonyms", [False, True])
def test_scores_at_rows_are_the_catalog_long_scores_bit_for_bit(whole, query: str, synonyms: bool) -> None:
    rewrite = _rewrite(query) if synonyms else None
    full, _ = whole.scores(query, rewrite)
    rows = np.sort(np.random.default_rng(len(query)).choice(len(full), 200, replace=False))
    assert np.array_equal(whole.scores_at(query, rows, rewrite), full[rows])


@pytest.mark.parametrize("synonyms", [False, True])
def test_with_no_word_cut_the_tiers_give_the_exact_recall(whole, synonyms: bool) -> None:
    tiers = TieredLexical(whole, int(np.diff(whole.bm25.weights.indptr).max()), 1, RecallSettings())
    for query in QUERIES:
        rewrite = _rewrite(query) if synonyms else None
        ids, scores = tiers.lexical(query, 40, rewrite)
        want_ids, want_scores = whole.lexical(query, 40, rewrite)
        assert np.array_equal(ids, want_ids) and np.array_equal(scores, want_scores)


@pytest.mark.parametrize("synonyms", [False, True])
def test_cut_words_still_give_exact_scores_best_first(whole, synonyms: bool) -> None:
    tiers = TieredLexical(whole, 40, 2, RecallSettings())
    differs = 0
    for query in QUERIES:
        rewrite = _rewrite(query) if synonyms else None
        ids, scores = tiers.lexical(query, 30, rewrite)
        full, recalled = whole.scores(query, rewrite)
        rows = whole._rows.rows(ids)
        assert np.all(recalled[rows]) and np.array_equal(scores, full[rows])  # exact, and recalled
        pairs = zip(scores[:-1], scores[1:], ids[:-1], ids[1:], strict=True)
        assert all((a > b) or (a == b and i < j) for a, b, i, j in pairs)
        differs += not np.array_equal(ids, whole.lexical(query, 30, rewrite)[0])
    assert differs  # the cut is felt somewhere (else this test tests nothing)


def test_a_repeated_query_reads_its_kept_recall(whole) -> None:
    tiers = TieredLexical(whole, 40, 2, RecallSettings())
    first = tiers.lexical("phone case", 20)
    assert tiers.lexical("phone case", 20)[0] is first[0]
    assert not first[0].flags.writeable


def test_the_catalog_s_size_chooses_exact_or_tiers(whole) -> None:
    n = len(whole.bm25.product_ids)
    assert lexical_recall(whole, RecallSettings(lexical_exact_max=n)) is whole
    assert isinstance(lexical_recall(whole, RecallSettings(lexical_exact_max=n - 1)), TieredLexical)


def test_search_recall_uses_the_tiers_above_the_size_and_keeps_the_whole_index_s_words() -> None:
    texts = _texts(300, seed=5)
    recall = SearchRecall.from_texts(texts, np.arange(1, 301), dim=4)
    exact = recall.lexical("red phone", 20)
    recall.use_query_words_from(RecallSettings(lexical_exact_max=100, lexical_postings_per_term=30,
                                               lexical_rescore_multiple=1))
    assert isinstance(recall.lexical_words, TieredLexical)
    assert recall.lexical_words.whole is recall.query_words  # page words read the whole index
    got = recall.lexical("red phone", 20)
    assert not np.array_equal(got[0], exact[0])
    recall.use_query_words_from(RecallSettings())
    assert recall.lexical_words is recall.query_words
    assert np.array_equal(recall.lexical("red phone", 20)[0], exact[0])


def test_a_query_no_more_products_hold_than_it_would_rescore_is_answered_exactly(whole) -> None:
    tiers = TieredLexical(whole, 5, 4, RecallSettings())  # five postings a word: nearly nothing left
    query = "phone case"
    holders = whole.typed_holders(query)
    assert holders == sum(w.products for w in whole.words(query).words) > 20
    k = -(-holders // 4)  # 4 * k >= holders: every row the exact recall scores would be rescored
    assert np.array_equal(tiers.lexical(query, k)[0], whole.lexical(query, k)[0])
    assert not np.array_equal(tiers.lexical(query, k - 1)[0], whole.lexical(query, k - 1)[0][:k - 1])
