"""Synonyms at query reading (ranking/recall/query_words.py, page_words.py): lexical recall also
searches the operator's terms as alternatives of the words they stand for, below the typed
words, and a card holding a term is a text match for the word."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex
from ranking.recall.page_words import page_words
from ranking.recall.search import SearchRecall
from ranking.settings import MerchandisingSettings

TEXTS = ["华为 手机壳 透明", "小米 手机 5G 大内存", "phone case leather", "rice cooker 5L",
         "cordless drill 18v", "battery drill kit", "手机 phone stand"]
PHONE = Synonym(terms=["phone", "手机"], one_way=True, reason="shoppers type phone", id="phone")
DRILL = Synonym(terms=["cordless drill", "battery drill"], reason="same tool", id="drill")


@pytest.fixture(scope="module")
def recall() -> SearchRecall:
    return SearchRecall.from_texts(TEXTS, np.arange(1, len(TEXTS) + 1), dim=4)


def _rewrite(query: str, *synonyms: Synonym):
    return SynonymIndex(list(synonyms)).rewrite(query)


def test_phone_finds_the_chinese_titles_through_its_synonym(recall: SearchRecall) -> None:
    assert recall.lexical("phone", 10)[0].tolist() == [3, 7]  # as typed: only the Latin titles
    ids, scores = recall.lexical("phone", 10, _rewrite("phone", PHONE))
    assert set(ids.tolist()) == {1, 2, 3, 7}
    assert np.all(np.diff(scores) <= 0)


def test_an_added_term_is_an_alternative_of_its_word_not_an_extra_required_word(recall: SearchRecall) -> None:
    ids, scores = recall.lexical("phone case", 10, _rewrite("phone case", PHONE))
    ranked = ids.tolist()
    assert set(ranked) == {1, 2, 3, 7}  # 手机壳 and 手机 titles, as well as "phone case"
    assert ranked[0] == 3  # both typed words beat a synonym of one of them
    # a title holding both the word and its synonym is not counted twice: "手机 phone stand"
    # gets the larger of its typed "phone" and the weighted "手机", not their sum
    plain = dict(zip(*recall.lexical("phone case", 10), strict=True))
    with_synonym = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    own, synonym = recall.bm25.scores("phone")[6], 0.5 * recall.bm25.scores("手机")[6]
    assert own > 0 and synonym > 0
    assert with_synonym[7] == pytest.approx(plain[7] - own + max(own, synonym), rel=1e-5)


def test_a_synonym_scores_below_the_typed_word_by_its_weight(recall: SearchRecall) -> None:
    rewrite = _rewrite("phone", PHONE)
    weak = dict(zip(*recall.lexical("phone", 10, rewrite), strict=True))
    recall.use_synonyms_from(MerchandisingSettings(synonym_weight=1.0))
    try:
        full = dict(zip(*recall.lexical("phone", 10, rewrite), strict=True))
    finally:
        recall.use_synonyms_from(MerchandisingSettings())
    assert weak[2] == pytest.approx(full[2] * MerchandisingSettings().synonym_weight)


def test_a_multi_word_term_counts_only_for_products_holding_all_its_words(recall: SearchRecall) -> None:
    ids, _ = recall.lexical("battery drill", 10, _rewrite("battery drill", DRILL))
    assert set(ids.tolist()) == {5, 6}
    # "cordless drill" stands for "battery drill": the title with both words comes in; a
    # title with only "cordless" would not (none here), and "drill" alone already matched
    assert _rewrite("battery drill", DRILL).terms_added == ("cordless drill",)


def test_no_rewrite_is_the_recall_as_it_was(recall: SearchRecall) -> None:
    for query in ("phone case", "手机", "drill", "rice"):
        plain = recall.lexical(query, 10)
        same = recall.lexical(query, 10, _rewrite(query, Synonym(terms=["tea", "茶"], reason="r")))
        assert plain[0].tolist() == same[0].tolist()
        np.testing.assert_allclose(plain[1], same[1])


def test_a_card_holding_a_synonym_is_a_text_match_and_the_page_has_no_no_match_notice() -> None:
    catalog = SearchRecall.from_texts(["华为 手机壳", "小米 手机", "rice cooker"], np.arange(1, 4), dim=4)
    cards = [{"product_id": 1}, {"product_id": 2}, {"product_id": 3}]
    without = page_words(catalog.query_words, "phone", [dict(c) for c in cards])
    assert without.notice["kind"] == "no_match" and without.text_matched == [False] * 3
    rewrite = _rewrite("phone", PHONE)
    said = page_words(catalog.query_words, "phone", cards, rewrite)
    assert said.notice is None and said.text_matched == [True, True, False]
    assert [c["matched_words"] for c in cards] == [["phone"], ["phone"], []]
    assert said.query_words == [{"word": "phone", "products": 2, "matched_inside": [], "cards": 2,
                                 "synonyms": ["手机"]}]


def test_a_synonym_of_one_word_leaves_the_other_words_notice_alone() -> None:
    catalog = SearchRecall.from_texts(["小米 手机", "rice cooker"], np.arange(1, 3), dim=4)
    cards = [{"product_id": 1}]
    said = page_words(catalog.query_words, "phone holder", cards, _rewrite("phone holder", PHONE))
    assert said.notice["kind"] == "partial" and said.notice["unmatched"] == ["holder"]
    assert said.notice["matched"] == ["phone"]
