"""Synonym-aware lexical scores (ranking/recall/query_words.py, QueryWordMatcher.scores and
lexical): the same ids and float32 scores, bit for bit, as the scoring written plainly (kept below
as the reference, for changes that make it faster), on a random catalog of Latin and Chinese
words with every word in two synonym sets."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.bounded_memo import BytesMemo
from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import Alternative, QueryRewrite, SynonymIndex
from ranking.recall.query_words import QueryWordMatcher
from ranking.recall.search import SearchRecall
from ranking.settings import RecallSettings

LATIN = ["cordless", "drill", "battery", "phone", "smartphone", "case", "leather", "rice", "cooker",
         "oil", "olive", "kit", "stand", "charger", "wireless", "headphones", "lamp", "desk"]
CHINESE = ["手机", "手机壳", "电饭煲", "大米", "橄榄油", "平板电脑", "充电器", "耳机", "台灯", "华为"]


# ---- the reference: each alternative's own score summed anew over the catalog -------------
def _reference_text_scores(m: QueryWordMatcher, text: str) -> np.ndarray:
    w, s = m.bm25.weights, np.zeros(len(m.bm25.product_ids), dtype=np.float32)
    for j in m.bm25.query_tokens(text):
        s[w.indices[w.indptr[j]:w.indptr[j + 1]]] += w.data[w.indptr[j]:w.indptr[j + 1]]
    for word in m.words(text).words:
        for j in (word.parts[0] if word.inside and word.products else ()):
            s[w.indices[w.indptr[j]:w.indptr[j + 1]]] += m.weight * w.data[w.indptr[j]:w.indptr[j + 1]]
    return s


def _reference_scores(m: QueryWordMatcher, query: str, rewrite, weight: float):
    s, hit = m._typed_scores(query, m.words(query))
    for alternative in (rewrite.alternatives if rewrite else ()):
        best, held = None, []
        for term in alternative.terms:
            rows = m._term_rows(term)
            if rows is None:
                continue
            best = np.zeros(len(s), dtype=s.dtype) if best is None else best
            best[rows] = np.maximum(best[rows], weight * _reference_text_scores(m, term)[rows])
            held.append(rows)
        if best is None:
            continue
        rows = np.concatenate(held)
        own = _reference_text_scores(m, alternative.text)[rows]
        s[rows] = s[rows] + np.maximum(best[rows] - own, 0)
        hit[rows] = True
    return s, hit


def _reference_lexical(m: QueryWordMatcher, query: str, k: int, rewrite, weight: float):
    return _reference_top(m, *_reference_scores(m, query, rewrite, weight), k)


def _reference_top(m: QueryWordMatcher, s: np.ndarray, hit: np.ndarray, k: int):
    hits = np.flatnonzero(hit & (s > 0))
    if len(hits) > k:
        hits = hits[np.argpartition(-s[hits], k - 1)[:k]]
    order = hits[np.lexsort((m.bm25.product_ids[hits], -s[hits]))]
    return m.bm25.product_ids[order], s[order]


@pytest.fixture(scope="module")
def mall() -> tuple[QueryWordMatcher, list[str], SynonymIndex]:
    rng = np.random.default_rng(11)
    words = LATIN + CHINESE
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 7))) for _ in range(3000)]
    recall = SearchRecall.from_texts(texts, np.arange(10, 3010) * 3, dim=4)
    recall.use_query_words_from(RecallSettings(search_results_kept=0))  # every call scored
    # every word in two sets, as bench.merch_synonyms builds them; a shopper's word with a part
    sets = [Synonym(terms=[f"zq{i}", w, words[(i + 1) % len(words)]], reason="t", id=f"s{i}")
            for i, w in enumerate(words)]
    sets += [Synonym(terms=["phon", "手机", "wireless charger"], one_way=True, reason="t", id="x"),
             # whole-query matches (the index gives them instead of their words' matches)
             Synonym(terms=["cordless drill", "battery kit"], reason="t", id="y"),
             Synonym(terms=["rice cooker", "电饭煲"], reason="t", id="z")]
    queries = [*words, "phon", "cordless drill", "rice cooker",
               "cordles drill", "华为手机", "手机壳 leather", "平板", "olive oil 大米",
               "zq3", "wireless headphones", "ri", "headph", "charger 充电器 lamp", "desk lamp 台灯"]
    return recall.query_words, queries, SynonymIndex(sets)


@pytest.mark.parametrize("k", [5, 60, 5000])  # k below, near and above the recalled count
def test_lexical_recall_is_the_reference_bit_for_bit(mall, k: int) -> None:
    matcher, queries, synonyms = mall
    fired = 0
    for query in queries:
        for rewrite in (None, synonyms.rewrite(query)):
            fired += bool(rewrite)
            want_ids, want_scores = _reference_lexical(matcher, query, k, rewrite, 0.5)
            got_ids, got_scores = matcher.lexical(query, k, rewrite, 0.5)
            assert got_ids.tolist() == want_ids.tolist(), query
            assert got_scores.dtype == want_scores.dtype and got_scores.tobytes() == want_scores.tobytes()
    assert fired > len(queries) // 2  # the synonym path ran


def test_scores_over_the_catalog_are_the_reference_bit_for_bit(mall) -> None:
    matcher, queries, synonyms = mall
    for query in queries:
        rewrite = synonyms.rewrite(query)
        want_s, want_hit = _reference_scores(matcher, query, rewrite, 0.5)
        got_s, got_hit = matcher.scores(query, rewrite, 0.5)
        assert got_s.tobytes() == want_s.tobytes() and got_hit.tolist() == want_hit.tolist(), query


def test_a_rewrite_carrying_a_word_match_then_a_whole_query_match_scores_as_the_reference(mall) -> None:
    """The index gives non-overlapping matches, but a rewrite may carry a word's match before a
    whole-query match (any caller may build one): each match reads the words' own scores."""
    matcher, _, _ = mall
    rewrite = QueryRewrite(alternatives=(Alternative(("drill",), ("kit", "stand"), ("w",)),
                                         Alternative(("cordless", "drill"), ("battery kit",), ("y",))),
                           terms_added=("kit", "stand", "battery kit"))
    want_s, want_hit = _reference_scores(matcher, "cordless drill", rewrite, 0.5)
    got_s, got_hit = matcher.scores("cordless drill", rewrite, 0.5)
    assert got_s.tobytes() == want_s.tobytes() and got_hit.tolist() == want_hit.tolist()


def _random_rewrite(rng: np.random.Generator, query: str) -> QueryRewrite:
    """One to three matches over ``query``'s units (the whole query, one word, or a word then the
    whole query), each with one to three terms of catalog words, word pairs, Chinese words and
    words no product holds."""
    units = tuple(query.split())
    pool = [*LATIN, *CHINESE, "zq1", "phon", "cordless drill", "battery kit", "手机 leather"]
    shapes = [[units], [units[:1]], [units[-1:], units], [units[:1], units[-1:], units]]
    matches = shapes[int(rng.integers(len(shapes)))]
    alternatives = tuple(Alternative(m, tuple(rng.choice(pool, size=int(rng.integers(1, 4)), replace=False)),
                                     ("r",)) for m in matches)
    return QueryRewrite(alternatives=alternatives,
                        terms_added=tuple(dict.fromkeys(t for a in alternatives for t in a.terms)))


def test_random_queries_and_rewrites_are_the_reference_bit_for_bit(mall) -> None:
    """200 random queries of one to three words (catalog, partial and unknown words), each without
    a rewrite, with the index's and with a random one (a whole-query match first, after a word's
    match, or none), at ``k`` values that cut through tied scores: the ids, their order and the
    float32 scores are the reference's, and ties at the k-th score did occur."""
    matcher, _, synonyms = mall
    rng = np.random.default_rng(5)
    vocabulary = [*LATIN, *CHINESE, "cordles", "headph", "zq7", "nothing", "华为手机"]
    straddled = 0
    for _ in range(200):
        query = " ".join(rng.choice(vocabulary, size=int(rng.integers(1, 4))))
        for rewrite in (None, synonyms.rewrite(query), _random_rewrite(rng, query)):
            s, hit = _reference_scores(matcher, query, rewrite, 0.5)
            ranked = np.sort(s[hit & (s > 0)])[::-1]
            for k in (1, 7, 40, int(rng.integers(1, 400))):
                straddled += len(ranked) > k and ranked[k - 1] == ranked[k]
                want_ids, want_scores = _reference_top(matcher, s, hit, k)
                got_ids, got_scores = matcher.lexical(query, k, rewrite, 0.5)
                assert got_ids.tolist() == want_ids.tolist(), (query, rewrite, k)
                assert got_scores.tobytes() == want_scores.tobytes(), (query, rewrite, k)
    assert straddled > 50  # the k-th score tied with the next: argpartition's pick, not the id's


def test_a_whole_query_match_reads_its_own_score_from_the_typed_scores(mall, monkeypatch) -> None:
    """A match of the whole query, first to add to the scores, takes its words' own score from
    the typed scores instead of summing its text again over the catalog; a later one sums anew."""
    matcher, _, _ = mall
    monkeypatch.setattr(matcher, "_matches", BytesMemo(0))  # every match made (none kept)
    summed: list[str] = []
    real = matcher._text_scores
    monkeypatch.setattr(matcher, "_text_scores",
                        lambda text, *a, **kw: summed.append(text) or real(text, *a, **kw))
    whole = QueryRewrite(alternatives=(Alternative(("cordless", "drill"), ("battery",), ("y",)),),
                         terms_added=("battery",))
    matcher.scores("cordless drill", whole, 0.5)
    assert "cordless drill" not in summed
    after_word = QueryRewrite(alternatives=(Alternative(("drill",), ("kit",), ("w",)), *whole.alternatives),
                              terms_added=("kit", "battery"))
    summed.clear()
    want_s, _ = _reference_scores(matcher, "cordless drill", after_word, 0.5)
    summed.clear()
    got_s, _ = matcher.scores("cordless drill", after_word, 0.5)
    assert summed.count("cordless drill") == 1 and got_s.tobytes() == want_s.tobytes()


def test_a_match_is_made_once_across_queries_and_adds_what_making_it_again_would(mall, monkeypatch) -> None:
    """A synonym match's rows and what it adds (the match's words, terms and weight only) are
    kept per index: a second query with the same match sums neither the terms nor the words
    again, and scores as a matcher keeping nothing."""
    matcher, _, _ = mall
    monkeypatch.setattr(matcher, "_matches", BytesMemo(1 << 20))
    drill = Alternative(("drill",), ("kit", "手机"), ("w",))
    made: list[str] = []
    real = matcher._match
    monkeypatch.setattr(matcher, "_match", lambda a, *rest: made.append(a.text) or real(a, *rest))
    for query in ("cordless drill", "drill lamp", "drill"):
        rewrite = QueryRewrite(alternatives=(drill,), terms_added=drill.terms)
        want_s, want_hit = _reference_scores(matcher, query, rewrite, 0.5)
        got_s, got_hit = matcher.scores(query, rewrite, 0.5)
        assert got_s.tobytes() == want_s.tobytes() and got_hit.tolist() == want_hit.tolist(), query
    assert made == ["drill"] and ("drill", ("kit", "手机"), 0.5) in matcher._matches
    rows, adds = matcher._matches.get(("drill", ("kit", "手机"), 0.5))
    assert not rows.flags.writeable and not adds.flags.writeable
