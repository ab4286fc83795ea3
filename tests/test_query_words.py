"""The query's words (ranking/recall/query_words.py): what a product must hold to be a text
match, sub-word matching, Chinese words never matched on one shared character, and the
partial-match and no-match notices."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ranking.recall.query_words import SPARSE_COUNT, QueryWordMatcher, QueryWords, held_count, in_sorted
from ranking.recall.search import SearchRecall
from ranking.settings import RecallSettings

TEXTS = [
    "Dyson cordless vacuum cleaner 数码 吸尘器",  # 1
    "Midea cordless vacuum cleaner 吸尘器",  # 2
    "华润 大米 5kg rice",  # 3
    "华丰 咖啡 coffee",  # 4
    "Apple smartphone 128gb 手机",  # 5
    "Xiaomi smartphone 手机 红米",  # 6
    "Lenovo tablet 平板电脑",  # 7
    "headphone wireless 耳机",  # 8
    "olive oil 橄榄油 cooking",  # 9
    "rice cooker 电饭煲",  # 10
]
IDS = np.arange(1, len(TEXTS) + 1, dtype=np.int64)


@pytest.fixture(scope="module")
def recall() -> SearchRecall:
    return SearchRecall.from_texts(TEXTS, IDS, dim=8)


def _words(recall: SearchRecall, query: str) -> dict[str, int]:
    return {w.text: w.products for w in recall.query_words.words(query).words}


def test_a_chinese_word_never_matches_on_one_shared_character(recall: SearchRecall) -> None:
    # 华为 shares 华 with the 华润 and 华丰 brands; 电钻 shares 电 with 电饭煲
    for query in ("华为", "电钻"):
        assert _words(recall, query) == {query: 0}
        assert len(recall.lexical(query, 10)[0]) == 0
        notice = recall.query_words.words(query).notice()
        assert notice["kind"] == "no_match" and notice["unmatched"] == [query]
    assert recall.query_words.words("华为").notice(shown=False)["message"] == "No product matches '华为'."


def test_a_chinese_run_is_cut_where_its_bigrams_stop_occurring(recall: SearchRecall) -> None:
    assert _words(recall, "平板电脑") == {"平板电脑": 1}
    assert _words(recall, "华为手机") == {"华为": 0, "手机": 2}
    assert set(recall.lexical("华为手机", 10)[0].tolist()) == {5, 6}
    assert _words(recall, "米") == {"米": 2}  # a lone character is a word when it is the whole run


def test_a_strong_word_missing_gives_a_partial_notice(recall: SearchRecall) -> None:
    words = recall.query_words.words("cordless drill")
    assert _words(recall, "cordless drill") == {"cordless": 2, "drill": 0}
    assert words.strongest.text == "drill"
    assert words.notice() == {"kind": "partial", "unmatched": ["drill"], "matched": ["cordless"],
                              "message": "No product matches 'drill'; showing results for 'cordless'."}
    ids = recall.lexical("cordless drill", 10)[0]
    assert set(ids.tolist()) == {1, 2}
    assert recall.query_words.held(words, ids).tolist() == [[True, False], [True, False]]


def test_every_word_matched_gives_no_notice_and_stop_words_never_are_strong(recall: SearchRecall) -> None:
    assert recall.query_words.words("rice cooker").notice() is None
    words = recall.query_words.words("rice for cooking")
    assert [w.text for w in words.content] == ["rice", "cooking"]  # "for" is in no product, but a stop word
    assert words.notice() is None and words.strongest.text == "cooking"


def test_a_word_no_product_holds_matches_the_catalog_words_it_is_part_of(recall: SearchRecall) -> None:
    words = recall.query_words.words("phone")
    (phone,) = words.words
    assert phone.products == 3 and set(phone.inside) == {"smartphone", "headphone"}
    assert words.notice() is None
    ids, scores = recall.lexical("phone", 10)
    assert set(ids.tolist()) == {5, 6, 8}
    whole = recall.bm25.scores("smartphone")[recall.bm25.product_ids == 5][0]
    assert scores[ids == 5][0] == pytest.approx(RecallSettings().subword_weight * whole, rel=1e-5)


def test_sub_word_matching_follows_its_settings(recall: SearchRecall) -> None:
    capped = QueryWordMatcher(recall.bm25, min_length=4, max_expansions=1, weight=0.5)
    assert capped.expansions("phone") == ("smartphone",)  # the more frequent first
    short = QueryWordMatcher(recall.bm25, min_length=6, max_expansions=8, weight=0.5)
    assert short.expansions("phone") == () and short.words("phone").words[0].products == 0
    off = SearchRecall.from_texts(TEXTS, IDS, dim=8).use_query_words_from(
        RecallSettings(subword_max_expansions=0))
    assert len(off.lexical("phone", 10)[0]) == 0
    assert recall.query_words.expansions("oil") == ()  # held as a whole word: not expanded


def test_a_latin_query_without_sub_words_recalls_what_bm25_recalls(recall: SearchRecall) -> None:
    for query in ("cordless vacuum", "rice cooker 5kg", "coffee"):
        ids, scores = recall.lexical(query, 10)
        bm_ids, bm_scores = recall.bm25.search(query, 10)
        assert ids.tolist() == bm_ids.tolist() and np.allclose(scores, bm_scores)


def test_new_products_keep_the_sub_word_settings(recall: SearchRecall) -> None:
    fresh = SearchRecall.from_texts(TEXTS, IDS, dim=8).use_query_words_from(
        RecallSettings(subword_max_expansions=0))
    bigger = SearchRecall.from_texts([*TEXTS, "Honor smartphone 手机"], np.arange(1, len(TEXTS) + 2), dim=8)
    fresh.replace_products(bigger.bm25, bigger.index, bigger.vectors)
    assert fresh.query_words.bm25 is bigger.bm25 and fresh.query_words.max_expansions == 0


def test_the_plain_query_shortcut_gives_what_the_word_masks_give(recall: SearchRecall) -> None:
    masked = QueryWordMatcher(recall.bm25, min_length=4, max_expansions=8, weight=0.1)
    masked._plain = lambda query, words: False  # the general path, for comparison
    for query in ("cordless vacuum", "rice cooker 5kg", "vacuum vacuum"):
        assert recall.query_words._plain(query, recall.query_words.words(query))
        ids, scores = masked.lexical(query, 10)
        plain_ids, plain_scores = recall.lexical(query, 10)
        assert ids.tolist() == plain_ids.tolist() and np.allclose(scores, plain_scores)
    assert not recall.query_words._plain("华为手机", recall.query_words.words("华为手机"))
    assert not recall.query_words._plain("phone", recall.query_words.words("phone"))


def test_in_sorted_is_isin_against_the_joined_lists() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        lists = [np.unique(rng.integers(0, 60, size=rng.integers(0, 12))) for _ in range(rng.integers(0, 4))]
        rows = rng.integers(-1, 65, size=rng.integers(0, 25))
        joined = np.concatenate(lists) if lists else np.zeros(0, np.int64)
        assert in_sorted(rows, lists).tolist() == np.isin(rows, joined).tolist()


def test_a_card_holds_a_word_through_its_parts_or_a_synonym_term(recall: SearchRecall) -> None:
    words = recall.query_words.words("vacuum 手机")
    ids = np.array([1, 2, 5, 6, 9, 999], dtype=np.int64)  # 999: a product the index does not know
    held = recall.query_words.held(words, ids)
    assert held[:, 0].tolist() == [True, True, False, False, False, False]
    assert held[:, 1].tolist() == [False, False, True, True, False, False]
    phone = replace(recall.query_words.words("phone").words[0], synonyms=("手机", "橄榄油"))
    held = recall.query_words.held(QueryWords((phone,)), ids)
    assert held[:, 0].tolist() == [False, False, True, True, True, False]


def _reference_mask(m: QueryWordMatcher, parts: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Whether each index row holds one column of every part, one catalog-long mask per part."""
    held = np.zeros(len(m.bm25.product_ids), dtype=bool)
    if not parts or any(not p for p in parts):
        return held
    held[:] = True
    for part in parts:
        mask = np.zeros(len(held), dtype=bool)
        for j in part:
            mask[m.bm25.weights.indices[m.bm25.weights.indptr[j]:m.bm25.weights.indptr[j + 1]]] = True
        held &= mask
    return held


def test_the_products_holding_several_parts_are_found_by_binary_search_as_the_masks_find_them() -> None:
    """A word of several parts (a Chinese word's bigrams) counts and marks the products holding
    all of them from the smallest part's postings looked up in the others' (QueryWordMatcher._held_rows):
    the rows, the mask and the count the catalog-long masks give, for random parts of one or
    several columns; with postings not known to be sorted and distinct, the masks themselves."""
    rng = np.random.default_rng(8)
    words = ["手机", "壳", "phone", "case", "rice", "大米", "cooker", "电饭煲", "oil", "drill", "kit", "lamp"]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 6))) for _ in range(400)]
    m = SearchRecall.from_texts(texts, np.arange(1, 401, dtype=np.int64), dim=4).query_words
    assert m._postings_canonical
    columns = len(m.bm25.vocabulary)
    cases = [tuple(tuple(int(c) for c in rng.choice(columns, size=rng.integers(1, 4), replace=False))
                   for _ in range(rng.integers(1, 5))) for _ in range(300)]
    cases += [((0,), ()), ((), (1,)), ((0,),), ((0, 1),)]
    assert sum(len(c) > 1 and bool(_reference_mask(m, c).any()) for c in cases) > 50  # many found
    for parts in cases:
        want = _reference_mask(m, parts)
        assert m._mask(parts).tolist() == want.tolist(), parts
        assert m._holding(parts) == int(want.sum()), parts
        if len(parts) > 1 and all(parts):
            assert m._held_rows(parts).tolist() == np.flatnonzero(want).tolist()
            word = m._make("w", parts)
            assert word.products == int(want.sum())
            assert m._word_rows(word).tolist() == np.flatnonzero(want).tolist()
    m._postings_canonical = False  # e.g. an index whose columns may repeat a row
    for parts in cases[:50]:
        assert m._holding(parts) == int(_reference_mask(m, parts).sum())


def test_a_word_no_product_holds_is_counted_without_a_catalog_long_mask(recall: SearchRecall,
                                                                         monkeypatch) -> None:
    """A word with an empty part (no catalog text holds it and no catalog word holds it inside:
    an operator's made-up term such as "zq17") holds no product: it is counted 0 at once, not by a
    mask as long as the catalog (at 1M products two 1 MB masks for each such term a query brings)."""
    m = QueryWordMatcher(recall.bm25, 4, 3, 0.5)
    monkeypatch.setattr(m, "_mask", lambda parts: pytest.fail(f"a mask for {parts}"))
    words = m.words("zq17 qqzzy 华为")  # a letters-and-digits term, an unknown word, a Chinese word
    assert [(w.text, w.products) for w in words.words] == [("zq", 0), ("17", 0), ("qqzzy", 0), ("华为", 0)]
    assert all(any(not p for p in w.parts) for w in words.words)
    assert m._holding(((), (0,))) == m._holding(((0,), ())) == m._holding(()) == 0


def test_a_text_is_tokenized_once_per_index(recall: SearchRecall, monkeypatch) -> None:
    """A first-time query's lexical recall tokenized its text for each of the plain-query check
    (twice), the typed scores and each synonym match, and each term for its rows and again for its
    scores; the matcher keeps a text's columns (read-only), so each text is tokenized once."""
    from ranking.merchandising.synonym_index import Alternative, QueryRewrite

    m = QueryWordMatcher(recall.bm25, 4, 3, 0.5, results=0)
    asked: list[str] = []
    real = recall.bm25.query_tokens
    monkeypatch.setattr(recall.bm25, "query_tokens", lambda text: asked.append(text) or real(text))
    rewrite = QueryRewrite(alternatives=(Alternative(("cordless",), ("电饭煲", "rice cooker"), ("s",)),),
                           terms_added=("电饭煲", "rice cooker"))
    for _ in range(2):
        m.lexical("cordless vacuum", 5)
        m.lexical("cordless vacuum", 5, rewrite)
        m.lexical("coffee", 5)
    assert sorted(asked) == sorted(set(asked)) and {"cordless vacuum", "coffee"} <= set(asked)
    assert not m.tokens("cordless vacuum").flags.writeable


def test_a_new_index_tokenizes_with_its_own_vocabulary() -> None:
    """The kept columns are the matcher's, one per index: new products (a new index and matcher)
    tokenize a text against the new vocabulary, not the old one's kept columns."""
    fresh = SearchRecall.from_texts(TEXTS, IDS, dim=8)
    assert not len(fresh.query_words.tokens("honor")) and not len(fresh.lexical("honor", 5)[0])
    bigger = SearchRecall.from_texts([*TEXTS, "Honor smartphone 手机"], np.arange(1, len(TEXTS) + 2), dim=8)
    fresh.replace_products(bigger.bm25, bigger.index, bigger.vectors)
    assert fresh.query_words.tokens("honor").tolist() == [bigger.bm25.vocabulary["honor"]]
    assert fresh.lexical("honor", 5)[0].tolist() == [len(TEXTS) + 1]


def test_held_count_is_what_a_mask_of_the_rows_counts() -> None:
    """held_count (a word's products with its synonym terms' on a page) counts the distinct rows
    of sorted lists as a catalog-long mask of them does, by a sort when they list few rows of the
    catalog and by the mask when many, in either index type."""
    rng = np.random.default_rng(13)
    sorted_form = masked = 0
    for _ in range(400):
        n = int(rng.integers(1, 3000))
        most = int(rng.choice([n // 60, 2 * n // 3])) + 2  # few rows of the catalog, or many
        lists = [np.unique(rng.integers(0, n, size=rng.integers(0, most))).astype(
            rng.choice([np.int32, np.int64])) for _ in range(rng.integers(0, 4))]
        mask = np.zeros(n, dtype=bool)
        for rows in lists:
            mask[rows] = True
        listed = sum(len(r) for r in lists)
        sorted_form += 0 < listed * SPARSE_COUNT <= n
        masked += listed * SPARSE_COUNT > n
        assert held_count(lists, n) == int(mask.sum())
    assert sorted_form > 50 and masked > 50  # both forms ran


def test_a_word_with_synonyms_counts_the_products_holding_it_or_a_term(recall: SearchRecall) -> None:
    """words_with gives a word the products holding it as typed or one of its synonym terms: the
    count a mask of the word's and the terms' rows gives (a term twice, a term no product holds)."""
    from ranking.merchandising.synonym import Synonym
    from ranking.merchandising.synonym_index import SynonymIndex

    m = QueryWordMatcher(recall.bm25, 4, 3, 0.5)
    sets = [Synonym(terms=["phone", "手机", "smartphone"], reason="r", id="a"),
            Synonym(terms=["vacuum", "吸尘器", "zqzq"], reason="r", id="b"),
            Synonym(terms=["cooker", "电饭煲", "rice"], reason="r", id="c")]
    index = SynonymIndex(sets)
    checked = 0
    for query in ("phone", "vacuum cleaner", "cooker", "rice cooker", "手机"):
        rewrite = index.rewrite(query)
        for word in m.words_with(query, rewrite).words:
            if not word.synonyms:
                continue
            mask = np.zeros(len(m.bm25.product_ids), dtype=bool)
            for term in word.synonyms:
                rows = m._term_rows(term)
                if rows is not None:
                    mask[rows] = True
            typed = next(w for w in m.words(query).words if w.text == word.text)
            if typed.products:
                mask[m._word_rows(typed)] = True
            assert word.products == int(mask.sum()) > 0, (query, word)
            checked += 1
    assert checked >= 4


def test_a_tie_at_the_kth_lexical_score_goes_to_the_lower_product_ids() -> None:
    """The lexical top k is the first k by (score descending, product id ascending), in the
    words' recall (a Chinese word, a sub-word) as in BM25's own (ranking/recall/lexical.py)."""
    from ranking.recall.lexical import BM25Index

    ids = np.array([90, 10, 70, 30, 50, 20, 80, 40, 60, 100, 5], dtype=np.int64)
    texts = ["平板电脑 smartphone"] * 6 + ["平板电脑"] * 4 + ["电脑"]
    m = QueryWordMatcher(BM25Index.build(texts, ids), 4, 3, 0.5)
    got, scores = m.lexical("平板电脑 smartphone", 3)
    assert got.tolist() == [10, 20, 30] and len(set(scores.tolist())) == 1  # three of six tied
    got, _ = m.lexical("平板电脑 smartphone", 8)
    assert got.tolist() == [10, 20, 30, 50, 70, 90, 40, 60]  # the six, then the lowest two of four
    got, _ = m.lexical("平板电脑 phone", 2)  # "phone" only inside "smartphone": a sub-word match
    assert got.tolist() == [10, 20]
    got, _ = m.lexical("平板电脑", 2)  # the four shorter titles first; "电脑" alone (5) never recalled
    assert got.tolist() == [40, 60] and 5 not in m.lexical("平板电脑", 20)[0].tolist()
