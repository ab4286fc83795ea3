"""Kept search recall (ranking/recall/query_words.py and search.py, ``recall.search_results_kept``):
a repeated query and rewrite get the same read-only lexical and dense result without scoring
again; the result is the one keeping nothing gives; a new product or a new text (a new index)
is never answered from the old index's results."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ranking.live.new_product_search import bm25_settings, replace_search, search_statistics
from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex
from ranking.recall.query_words import QueryWordMatcher, rewrite_key
from ranking.recall.search import SearchRecall
from ranking.settings import RecallSettings

TEXTS = ["华为 手机壳 透明", "小米 手机 5G 大内存", "phone case leather", "rice cooker 5L",
         "cordless drill 18v", "battery drill kit", "手机 phone stand", "smartphone charger"]
IDS = np.arange(1, len(TEXTS) + 1, dtype=np.int64)
PHONE = Synonym(terms=["phone", "手机"], reason="shoppers type phone", id="phone")
DRILL = Synonym(terms=["cordless drill", "battery drill"], reason="same tool", id="drill")
QUERIES = ("phone", "phone case", "cordless drill", "手机", "华为手机", "phon", "rice cooker", "kettle")


@pytest.fixture()
def recall() -> SearchRecall:
    return SearchRecall.from_texts(TEXTS, IDS, dim=4)


def _rewrites(query: str) -> list:
    return [None, SynonymIndex([PHONE, DRILL]).rewrite(query)]


def test_a_repeated_query_gets_the_kept_read_only_result_a_keepless_matcher_gives(recall) -> None:
    r = RecallSettings()
    keepless = QueryWordMatcher.of(recall.bm25, r.model_copy(update={"search_results_kept": 0}))
    scored = []
    keepless._lexical = _counting(keepless._lexical, scored)
    matcher = recall.query_words
    matcher._lexical = _counting(matcher._lexical, made := [])
    for query in QUERIES:
        for rewrite in _rewrites(query):
            first = matcher.lexical(query, 5, rewrite)
            again = matcher.lexical(query, 5, rewrite)
            assert again[0] is first[0] and again[1] is first[1]
            assert not first[0].flags.writeable and not first[1].flags.writeable
            want = keepless.lexical(query, 5, rewrite)
            assert first[0].tolist() == want[0].tolist() and first[1].tobytes() == want[1].tobytes()
            keepless.lexical(query, 5, rewrite)
    distinct = {(q, rewrite_key(r)) for q in QUERIES for r in _rewrites(q)}
    assert len(made) == len(distinct) > len(QUERIES)  # each (query, rewrite) scored once
    assert len(scored) == 4 * len(QUERIES)  # the keepless matcher scored every call


def _counting(inner, calls: list):
    def counted(*args):
        calls.append(args)
        return inner(*args)
    return counted


def test_the_key_is_the_query_the_rewrite_k_and_the_weight(recall) -> None:
    matcher = recall.query_words
    phone = SynonymIndex([PHONE]).rewrite("phone")
    renamed = SynonymIndex([Synonym(terms=["phone", "手机"], reason="other", id="other")]).rewrite("phone")
    # the set's id scores nothing
    assert matcher.lexical("phone", 5, phone) is matcher.lexical("phone", 5, renamed)
    assert matcher.lexical("phone", 5)[0].tolist() != matcher.lexical("phone", 5, phone)[0].tolist()
    assert len(matcher.lexical("phone", 1, phone)[0]) == 1
    weak, strong = matcher.lexical("phone", 5, phone, 0.5), matcher.lexical("phone", 5, phone, 1.0)
    assert weak[1].tolist() != strong[1].tolist()
    assert matcher.words_with("phone", phone) is matcher.words_with("phone", renamed)
    assert matcher.words_with("phone", phone).words[0].synonyms == ("手机",)


def test_the_setting_sizes_the_kept_results() -> None:
    recall = SearchRecall.from_texts(TEXTS, IDS, dim=4)
    recall.use_query_words_from(RecallSettings(search_results_kept=2))
    for query in QUERIES:
        recall.lexical(query, 5)
    assert len(recall.query_words._kept) == 2
    off = SearchRecall.from_texts(TEXTS, IDS, dim=4)
    off.use_query_words_from(RecallSettings(search_results_kept=0))
    assert off.lexical("phone", 5)[0] is not off.lexical("phone", 5)[0]


def test_new_products_and_new_texts_are_never_answered_from_the_old_index(recall) -> None:
    assert 9 not in recall.lexical("kettle", 5)[0].tolist()
    bigger = SearchRecall.from_texts([*TEXTS, "electric kettle 1.7L"], np.arange(1, len(TEXTS) + 2), dim=4)
    recall.replace_products(bigger.bm25, bigger.index, bigger.vectors)
    assert recall.lexical("kettle", 5)[0].tolist() == [9]
    stats = search_statistics(recall.bm25, *bm25_settings(recall))
    assert 4 not in recall.lexical("teapot", 5)[0].tolist()
    made = replace_search(recall, np.array([4]), [["porcelain", "teapot"]], ["porcelain teapot"], stats)
    recall.replace_products(made.bm25, made.index, made.vectors)
    assert recall.lexical("teapot", 5)[0].tolist() == [4]


def test_dense_recall_is_kept_beside_the_index_that_answered(recall) -> None:
    first = recall.dense("phone case", 4)
    assert recall.dense("phone case", 4)[0] is first[0] and not first[0].flags.writeable
    fresh = SearchRecall.from_texts(TEXTS, IDS, dim=4)
    fresh.use_query_words_from(RecallSettings(search_results_kept=0))
    want = fresh.dense("phone case", 4)
    assert first[0].tolist() == want[0].tolist() and first[1].tobytes() == want[1].tobytes()
    assert recall.dense("phone case", 3)[0].tolist() == want[0][:3].tolist()  # k is in the key
    assert fresh.dense("phone case", 4)[0] is not fresh.dense("phone case", 4)[0]  # 0 keeps none
    bigger = SearchRecall.from_texts([*TEXTS, "phone case phone case"], np.arange(1, len(TEXTS) + 2), dim=4)
    recall.replace_products(bigger.bm25, bigger.index, bigger.vectors)
    _, ids = bigger.index.search(recall.query_vectors(["phone case"]), 4)  # this recall's encoder
    assert recall.dense("phone case", 4)[0].tolist() == ids[0].tolist()
    assert 9 in ids[0].tolist() and 9 not in first[0].tolist()


def test_a_repeated_pages_similarities_are_kept_and_are_dense_similaritys_bits(recall) -> None:
    ids = np.array([3, 99, 1, 7, 3], dtype=np.int64)  # an unknown id and a repeat
    for query in ("phone case", "  Phone   CASE ", "手机", "!!!", "", None):
        want = recall.dense_similarity([query], np.zeros(len(ids), np.int64), ids)
        got = recall.query_similarity(query, ids)
        assert got.dtype == np.float32 and not got.flags.writeable
        assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()
    first = recall.query_similarity("phone case", ids)
    assert recall.query_similarity("phone case", ids) is first  # kept: no gather, no einsum
    assert recall.query_similarity("phone case", ids[:4]) is not first  # the ids are in the key
    assert recall.query_similarity("phone case", ids[::-1]).tobytes() == first[::-1].tobytes()
    memo: dict = {}  # the page's query vector: the one the dense source encoded
    assert recall.query_similarity("phone stand", ids, memo).tobytes() == \
        recall.dense_similarity(["phone stand"], np.zeros(len(ids), np.int64), ids).tobytes()
    assert len(memo) == 1


def test_a_querys_other_candidate_lists_compute_only_their_new_products(recall, monkeypatch) -> None:
    """The same query's candidates differ by a few products from page to page (shoppers' filters):
    the cosines already computed for the text are gathered, only the others computed, and every
    list gets :meth:`dense_similarity`'s bits (unknown ids, repeats, a text's cap reached)."""
    import ranking.recall.search as search_module

    lookup = recall._similarity_kept[0]
    looked: list[int] = []
    real_rows = lookup.rows
    monkeypatch.setattr(lookup, "rows", lambda ids: looked.append(len(ids)) or real_rows(ids))
    rng, plain = np.random.default_rng(5), SearchRecall.from_texts(TEXTS, IDS, dim=4)  # the same vectors
    lists = [np.array(ids, np.int64) for ids in ([1, 2, 3, 4], [4, 3, 2, 5], [2, 5], [99, 5, 6, 6, 1])]
    lists += [rng.integers(0, 12, rng.integers(1, 9)) for _ in range(30)]
    for n, ids in enumerate(lists):
        if n == 12:
            monkeypatch.setattr(search_module, "SIMILARITIES_PER_TEXT", 3)  # past the cap from here
        for query in ("phone case", "rice cooker"):
            want = plain.dense_similarity([query], np.zeros(len(ids), np.int64), ids).view(np.uint32)
            assert recall.query_similarity(query, ids).view(np.uint32).tolist() == want.tolist()
        if n == 3:
            assert looked == [4, 4, 1, 1, 3, 3], "only the ids not computed for the text before"
    recall.use_query_words_from(RecallSettings(search_results_kept=0))  # keeps none: all computed each time
    looked.clear()
    lookup = recall._similarity_kept[0]
    monkeypatch.setattr(lookup, "rows", lambda ids: looked.append(len(ids)) or real_rows(ids))
    recall.query_similarity("phone case", lists[0])
    recall.query_similarity("phone case", lists[1])
    assert looked == [4, 4]


def test_kept_similarities_follow_new_products_and_the_setting(recall) -> None:
    ids = np.array([2, 9], dtype=np.int64)
    before = recall.query_similarity("phone case", ids)
    assert np.isnan(before[1])  # product 9 is not in the index yet
    bigger = SearchRecall.from_texts([*TEXTS, "phone case phone case"], np.arange(1, len(TEXTS) + 2), dim=4)
    recall.replace_products(bigger.bm25, bigger.index, bigger.vectors)
    after = recall.query_similarity("phone case", ids)
    assert after is not before and not np.isnan(after[1])
    assert after.tobytes() == recall.dense_similarity(["phone case"], np.zeros(2, np.int64), ids).tobytes()
    recall.use_query_words_from(RecallSettings(search_results_kept=0))
    assert recall.query_similarity("phone case", ids) is not recall.query_similarity("phone case", ids)
    light = pickle.loads(pickle.dumps(recall.dense_only()))  # as training ships it to its workers
    assert light.query_similarity("phone case", ids).tobytes() == after.tobytes()


def test_a_synonym_terms_rows_and_scores_are_made_once_across_queries(recall, monkeypatch) -> None:
    """A term's rows and scores (QueryWordMatcher._term) depend on the term and the index only: a
    first-time query whose rewrite brings a term another query's brought reads them kept, and gets
    what making them again gives; a term held by more than TERM_ROWS_KEPT products is kept by its
    bytes (recall.synonym_large_terms_mb), and not at all when they have no room."""
    from ranking.recall import query_words

    matcher = recall.query_words
    made: list = []
    monkeypatch.setattr(matcher, "_term_scores", _counting(matcher._term_scores, made))
    synonyms = SynonymIndex([PHONE, DRILL])
    for query in ("phone", "phone case", "phone stand"):  # three queries, one term each: 手机
        matcher.lexical(query, 5, synonyms.rewrite(query))
    assert [args[0] for args in made] == ["手机"]
    rows, scores = matcher._term("手机")
    assert not rows.flags.writeable and not scores.flags.writeable
    assert rows.tolist() == matcher._term_rows("手机").tolist()
    catalog = matcher._text_scores("手机", matcher.words("手机"), columns=True)
    assert scores.tobytes() == catalog[rows].tobytes()
    assert matcher._term("kettle") is None and matcher._terms.get("kettle") == ()  # no product holds it
    no_matches = RecallSettings(synonym_matches_mb=0)  # each query's match made anew (its terms read)
    monkeypatch.setattr(query_words, "TERM_ROWS_KEPT", 1)  # 手机 is in 2 titles: a large term
    large = SearchRecall.from_texts(TEXTS, IDS, dim=4).use_query_words_from(no_matches).query_words
    large._term_scores = _counting(large._term_scores, once := [])
    no_room = no_matches.model_copy(update={"synonym_large_terms_mb": 0})  # no bytes for large terms
    fresh = SearchRecall.from_texts(TEXTS, IDS, dim=4).use_query_words_from(no_room).query_words
    fresh._term_scores = _counting(fresh._term_scores, again := [])
    for query in ("phone case", "phone stand"):
        rewrite = synonyms.rewrite(query)
        want = matcher.lexical(query, 5, rewrite)
        for got in (fresh.lexical(query, 5, rewrite), large.lexical(query, 5, rewrite)):
            assert got[0].tolist() == want[0].tolist() and got[1].tobytes() == want[1].tobytes()
    assert len(again) == 2 and len(fresh._terms) == 0 and len(fresh._large_terms) == 0
    assert len(once) == 1 and len(large._terms) == 0 and len(large._large_terms) == 1
    rows, scores = large._term("手机")
    assert not scores.flags.writeable and scores.tobytes() == catalog[rows].tobytes()


def test_a_new_index_answers_a_synonym_term_from_its_own_products(recall) -> None:
    """The kept terms and matches are the matcher's, and new products make a new matcher: a term
    and a match ("phone" -> 手机) kept before them find the new product's title after."""
    before = recall.lexical("phone", 10, SynonymIndex([PHONE]).rewrite("phone"))[0].tolist()
    assert recall.query_words._term("手机") is not None and 9 not in before
    assert len(recall.query_words._matches) == 1  # "phone" and its terms, which "phone case" reads
    bigger = SearchRecall.from_texts([*TEXTS, "手机 支架"], np.arange(1, len(TEXTS) + 2), dim=4)
    recall.replace_products(bigger.bm25, bigger.index, bigger.vectors)
    assert 9 in recall.lexical("phone case", 10, SynonymIndex([PHONE]).rewrite("phone case"))[0].tolist()
    assert 8 in recall.query_words._term("手机")[0].tolist()  # index row 8: product 9


def test_no_synonym_term_is_kept_when_the_setting_keeps_none(recall) -> None:
    """``recall.synonym_terms_kept`` bounds the small terms kept per index: 0 keeps none, and each
    query's term is made again (with the same rows and scores)."""
    synonyms = SynonymIndex([PHONE])
    kept = recall.query_words
    for query in ("phone case", "phone stand"):
        kept.lexical(query, 5, synonyms.rewrite(query))
    assert len(kept._terms) == 1
    none = SearchRecall.from_texts(TEXTS, IDS, dim=4).use_query_words_from(
        RecallSettings(synonym_terms_kept=0, synonym_matches_mb=0)).query_words
    none._term_scores = _counting(none._term_scores, made := [])
    for query in ("phone case", "phone stand"):
        rewrite = synonyms.rewrite(query)
        got, want = none.lexical(query, 5, rewrite), kept.lexical(query, 5, rewrite)
        assert got[0].tolist() == want[0].tolist() and got[1].tobytes() == want[1].tobytes()
    assert len(none._terms) == 0 and len(made) == 2


def test_a_first_seen_texts_similarities_at_the_served_width_are_dense_similaritys_bits() -> None:
    """A text no list was computed for takes every id as new and dots each product's vector with
    the one query vector (not the vector repeated per row): at the served width (64) and over
    many lists (unknown ids, repeats, empty), the bits :meth:`dense_similarity` gives, first seen
    and as later lists add to the kept ones."""
    rng = np.random.default_rng(11)
    words = ["phone", "case", "leather", "rice", "cooker", "drill", "kit", "手机", "透明", "charger",
             "stand", "battery", "大米", "5L", "18v", "kettle", "lamp", "wool", "scarf", "red"]
    texts = [" ".join(rng.choice(words, int(rng.integers(2, 6))).tolist()) for _ in range(300)]
    ids = np.arange(10, 310, dtype=np.int64)
    recall = SearchRecall.from_texts(texts, ids, dim=64)
    plain = SearchRecall.from_texts(texts, ids, dim=64)  # the same vectors, nothing kept
    assert recall.vectors.shape[1] == 64
    queries = ["phone case", "rice cooker 5L", "手机 透明", "red wool scarf", "lamp", "kettle kit"]
    for n in range(60):
        query = queries[n % len(queries)] if n >= len(queries) else f"{queries[n]} {n}"
        got_ids = rng.choice(np.r_[ids, [1, 2, 999]], int(rng.integers(0, 250)))
        want = plain.dense_similarity([query], np.zeros(len(got_ids), np.int64), got_ids)
        got = recall.query_similarity(query, got_ids)
        assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


@pytest.mark.parametrize("width", [1, 4, 7, 16, 33, 63, 64, 65, 128])
def test_one_vector_dotted_with_rows_is_the_repeated_vectors_einsum(width: int) -> None:
    """What :meth:`SearchRecall._text_similarities` relies on: ``einsum("ij,j->i")`` of the rows and
    one vector sums each row as ``einsum("ij,ij->i")`` of the rows and the vector repeated per row."""
    rng = np.random.default_rng(width)
    for scale in (1e-3, 1.0, 1e3):
        rows = (rng.standard_normal((517, width)) * scale).astype(np.float32)
        vector = rng.standard_normal((1, width)).astype(np.float32)
        repeated = np.einsum("ij,ij->i", vector[np.zeros(len(rows), np.int64)], rows)
        assert np.einsum("ij,j->i", rows, vector[0]).tobytes() == repeated.tobytes()
