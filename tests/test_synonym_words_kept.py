"""A query word with the synonym terms standing for it, kept per (word, terms) by its search index
(ranking/recall/query_words.py, QueryWordMatcher.words_with, ``recall.synonym_words_kept``): a
first-time query whose word another query's rewrite gave the same terms reads the word kept,
the same count, IDF and terms as made anew."""

from __future__ import annotations

import numpy as np

from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex
from ranking.recall.query_words import QueryWordMatcher
from ranking.recall.search import SearchRecall
from ranking.settings import RecallSettings, load_settings

WORDS = ["cordless", "drill", "battery", "phone", "smartphone", "case", "leather", "rice", "cooker",
         "手机", "手机壳", "电饭煲", "大米", "华为"]


def _matcher(kept: int) -> QueryWordMatcher:
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 6))) for _ in range(1500)]
    recall = SearchRecall.from_texts(texts, np.arange(1, 1501), dim=4)
    recall.use_query_words_from(RecallSettings(search_results_kept=0, synonym_words_kept=kept))
    return recall.query_words


def _counted(m: QueryWordMatcher) -> list[tuple]:
    calls: list[tuple] = []
    inner = m._holding_any

    def spy(terms, word) -> int:
        calls.append((word.text, terms))
        return inner(terms, word)

    m._holding_any = spy
    return calls


SETS = [Synonym(terms=["phone", "手机", "smartphone"], reason="t", id="a"),
        Synonym(terms=["rice", "大米"], reason="t", id="b")]
QUERIES = ["phone", "phone case", "leather phone", "rice cooker", "rice", "华为手机", "手机壳", "大米"]


def test_a_word_given_the_same_terms_again_is_read_kept_and_is_the_same_word() -> None:
    index = SynonymIndex(SETS)
    kept, anew = _matcher(4096), _matcher(0)
    calls, anew_calls = _counted(kept), _counted(anew)
    for query in QUERIES:
        rewrite = index.rewrite(query)
        assert kept.words_with(query, rewrite) == anew.words_with(query, rewrite), query
    phone = [c for c in calls if c[0] == "phone"]
    assert len(phone) == 1  # "phone", "phone case" and "leather phone": one count
    assert len([c for c in anew_calls if c[0] == "phone"]) == 3  # nothing kept at 0
    assert len(calls) == len(set(calls)) < len(anew_calls)


def test_other_terms_for_the_same_word_are_counted_anew() -> None:
    m = _matcher(4096)
    calls = _counted(m)
    small = SynonymIndex([Synonym(terms=["phone", "手机"], reason="t", id="a")])
    wide = SynonymIndex(SETS)
    a = m.words_with("phone", small.rewrite("phone"))
    b = m.words_with("phone", wide.rewrite("phone"))
    assert [c[1] for c in calls] == [("手机",), ("手机", "smartphone")]
    assert a.words[0].synonyms == ("手机",) and b.words[0].synonyms == ("手机", "smartphone")
    assert b.words[0].products >= a.words[0].products


def test_the_setting_reaches_the_matcher() -> None:
    got = load_settings(["recall.synonym_words_kept=7"]).recall
    assert got.synonym_words_kept == 7 and RecallSettings().synonym_words_kept == 4096
    m = QueryWordMatcher.of(_matcher(1).bm25, got)
    assert m._words_with_terms.size == 7
