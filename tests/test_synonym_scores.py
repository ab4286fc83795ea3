"""Synonym-aware lexical scores (ranking/recall/query_words.py, QueryWordMatcher.scores and
lexical): the same ids and float32 scores, bit for bit, as the scoring written plainly (kept below
as the reference, for changes that make it faster), on a random catalog of Latin and Chinese
words with every word in two synonym sets."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import recording

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
    """The first ``k`` by (score descending, product id ascending): every recalled row sorted."""
    hits = np.flatnonzero(hit & (s > 0))
    order = hits[np.lexsort((m.bm25.product_ids[hits], -s[hits]))][:k]
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
    assert straddled > 50  # the k-th score tied with the next: the lower ids kept, as the rule says


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


# ---- the union form (QueryWordMatcher._union_scores): scored at the rows it can recall only ---------
FORCED = {"union": 0, "catalog": 10 ** 12, "guess": 10 ** 12}  # SPARSE_COST: the union form always, never


@pytest.fixture(params=list(FORCED))
def forced(request, mall, monkeypatch) -> str:
    """The union form always (SPARSE_COST 0) or never, each with its own fresh kept matches and terms
    (so the path under test makes them); ``guess``: never, with the catalog-long form's top k read
    from the rows above a guessed threshold (lexical.above_guess, a sample of 64 rows: a stride of
    46 on this 3,000-product mall; at the default only above ~131,000 products)."""
    from ranking.recall import lexical, query_words

    matcher = mall[0]
    monkeypatch.setattr(query_words, "SPARSE_COST", FORCED[request.param])
    monkeypatch.setattr(lexical, "GUESS_SAMPLE", 64 if request.param == "guess" else lexical.GUESS_SAMPLE)
    monkeypatch.setattr(matcher, "_matches", BytesMemo(1 << 24))
    monkeypatch.setattr(matcher, "_large_terms", BytesMemo(1 << 24))
    monkeypatch.setattr(matcher, "_terms", type(matcher._terms)(4096))
    return request.param


def test_both_forms_are_the_reference_bit_for_bit_with_sub_words_and_many_matches(mall, forced,
                                                                                   monkeypatch) -> None:
    """200 random queries of one to three words, with Chinese sub-word shapes (a word's bigrams held
    apart, a run no bigram covers, a character) and Latin parts, each without a rewrite, with the
    index's and with a random one of one to three matches (the whole query, a word, a word then
    the whole query): the union form and the catalog-long one (its top k from every positive row,
    or from the rows above a guessed threshold) give the reference's ids and float32 scores, ties
    at the k-th score included, and the form under test did run."""
    from ranking.recall import lexical

    matcher, _, synonyms = mall
    ran: list = []
    real = matcher._union_scores
    matcher._union_scores = lambda *a: (lambda got: ran.append(got is not None) or got)(real(*a))
    guessed: list = []
    monkeypatch.setattr(lexical, "above_guess", recording(lexical.above_guess, guessed))
    try:
        rng = np.random.default_rng(17)
        vocabulary = [*LATIN, *CHINESE, "cordles", "headph", "phon", "zq7", "华为手机壳", "平板电", "电脑壳",
                      "手机电饭", "大米油", "机壳", "脑", "米", "olive 大米油", "手机 leather"]
        for _ in range(200):
            query = " ".join(rng.choice(vocabulary, size=int(rng.integers(1, 4))))
            for rewrite in (None, synonyms.rewrite(query), _random_rewrite(rng, query)):
                s, hit = _reference_scores(matcher, query, rewrite, 0.5)
                for k in (1, 7, 40, int(rng.integers(1, 400))):
                    want_ids, want_scores = _reference_top(matcher, s, hit, k)
                    got_ids, got_scores = matcher.lexical(query, k, rewrite, 0.5)
                    assert got_ids.tolist() == want_ids.tolist(), (forced, query, rewrite, k)
                    assert got_scores.tobytes() == want_scores.tobytes(), (forced, query, rewrite, k)
    finally:
        del matcher._union_scores
    assert any(ran) == (forced == "union") and all(ran) == (forced == "union")
    assert any(guessed) == (forced == "guess")  # the guess kept rows only where it may
    if forced == "guess":
        assert not all(guessed)  # and a guess that kept fewer than k fell back
    lent = matcher._scratch.take()  # every match summed in this thread's lent array gave it back zeros
    assert not lent.any()
    matcher._scratch.give(lent)


def test_a_match_made_by_one_form_is_what_the_other_makes(mall, monkeypatch) -> None:
    """The kept synonym matches are shared by both forms: a match made at the union of rows holds
    the same rows and adds, bit for bit, as the catalog-long one."""
    from ranking.recall import query_words

    matcher, queries, synonyms = mall
    kept = {}
    for name, cost in FORCED.items():
        monkeypatch.setattr(query_words, "SPARSE_COST", cost)
        monkeypatch.setattr(matcher, "_matches", BytesMemo(1 << 24))
        for query in queries:
            matcher.lexical(query, 50, synonyms.rewrite(query), 0.5)
        kept[name] = {key: matcher._matches.get(key) for key in list(matcher._matches._values)}
    assert kept["union"].keys() == kept["catalog"].keys() and len(kept["union"]) > 10
    for key, got in kept["union"].items():
        want = kept["catalog"][key]
        assert (got == () and want == ()) or (got[0].tolist() == want[0].tolist()
                                              and got[1].tobytes() == want[1].tobytes()), key


def test_a_terms_scores_at_its_rows_are_the_catalog_sums(mall, monkeypatch) -> None:
    """A term's scores summed at its rows only (the union form's rule allowing) are the catalog-long
    sums there, bit for bit, for whole words, Chinese words of several bigrams and sub-words."""
    from ranking.recall import query_words

    matcher = mall[0]
    monkeypatch.setattr(query_words, "SPARSE_COST", 0)
    for term in [*LATIN, *CHINESE, "phon", "headph", "手机 leather", "cordless drill", "华为手机"]:
        rows = matcher._term_rows(term)
        if rows is None:
            continue
        words = matcher.words(term)
        want = matcher._text_scores(term, words, columns=True)[rows]
        assert matcher._term_scores(term, rows).tobytes() == want.tobytes(), term
        assert matcher._text_scores_at(term, words, rows, columns=True).tobytes() == want.tobytes(), term


def test_the_union_form_runs_only_when_it_searches_fewer_rows_than_the_catalog_sums_touch(mall) -> None:
    """SPARSE_COST rows of the catalog-long form per row searched: a few rows are scored at the
    union, most of the catalog's by the catalog-long sums, and postings not sorted and distinct
    never by binary search."""
    matcher = mall[0]
    n, column = len(matcher.bm25.product_ids), [matcher.bm25.vocabulary["phone"]]
    assert matcher._sparse_cheaper(column, 10)
    assert not matcher._sparse_cheaper(column, n)
    matcher._postings_canonical = False
    try:
        assert not matcher._sparse_cheaper(column, 10)
    finally:
        matcher._postings_canonical = True


def test_sorted_union_and_common_are_numpys() -> None:
    """The sorted distinct values of several arrays are ``np.unique``'s of them joined; the common
    positions of two sorted distinct arrays are ``np.intersect1d``'s, whichever is the longer."""
    from ranking.sorted_sets import common, sorted_union

    rng = np.random.default_rng(3)
    for size in (0, 1, 2, 50, 3000):
        arrays = [rng.integers(0, 2000, size).astype(np.int32) for _ in range(int(rng.integers(1, 4)))]
        got = sorted_union(arrays)
        want = np.unique(np.concatenate(arrays))
        assert got.dtype == want.dtype and got.tolist() == want.tolist()
        other = np.unique(rng.integers(0, 2000, int(rng.integers(0, 400))).astype(np.int32))
        for a, b in ((got, other), (other, got)):
            at, idx = common(a, b)
            _, want_a, want_b = np.intersect1d(a, b, assume_unique=True, return_indices=True)
            assert at.tolist() == want_a.tolist() and idx.tolist() == want_b.tolist()


def test_the_typed_words_recalled_rows_are_their_masks(mall) -> None:
    """The rows a query recalls for its typed words (QueryWordMatcher._typed_scores' second part:
    each word's rows marked) are the rows holding one column of every part of a word, as each
    word's catalog-long mask gives them, for Chinese words of several bigrams, sub-words and runs."""
    matcher, queries, _ = mall
    for query in [*queries, "华为手机壳", "平板电 cordles", "手机电饭 headph", "机壳", "大米油 olive"]:
        words = matcher.words(query)
        if matcher._plain(query, words):
            continue
        want = np.zeros(len(matcher.bm25.product_ids), dtype=bool)
        for word in words.words:
            if word.products:
                want |= matcher._mask(word.parts)
        assert matcher._typed_scores(query, words)[1].tolist() == want.tolist(), query


def test_the_positive_marked_rows_are_the_catalog_long_masks() -> None:
    """The catalog-long form's recalled rows and scores when no guess applies (lexical.ranked_rows:
    ``s > 0`` read at the marked rows) are ``flatnonzero(hit & (s > 0))`` and ``s`` there, with
    marked rows scoring zero or less and unmarked rows scoring above zero; with no mask, every
    positive row."""
    from ranking.recall.lexical import ranked_rows

    rng = np.random.default_rng(5)
    for size in (0, 1, 50, 5000):
        s = rng.choice(np.array([-1.0, 0.0, 0.5, 2.0], np.float32), size) * rng.random(size, np.float32)
        for hit in (rng.random(size) < 0.3, s > 0, np.zeros(size, bool), None):
            rows, got = ranked_rows(s, hit, 10)
            want = np.flatnonzero((s > 0) if hit is None else hit & (s > 0))
            assert rows.tolist() == want.tolist() and got.tobytes() == s[want].tobytes()


def test_a_columns_postings_are_added_as_the_fancy_index_adds_them() -> None:
    """lexical.add_postings: distinct rows (numpy's add.at) give ``s[rows] += values`` bit for bit;
    rows held twice (postings not canonical) keep the fancy index's last write, which add.at would
    not (it adds both)."""
    from ranking.recall.lexical import add_postings

    rng = np.random.default_rng(9)
    s = rng.random(1000, np.float32)
    rows = np.sort(rng.choice(1000, 300, replace=False)).astype(np.int32)
    values = rng.random(300, np.float32)
    want = s.copy()
    want[rows] += values
    got = s.copy()
    add_postings(got, rows, values, distinct=True)
    assert got.tobytes() == want.tobytes()
    twice = np.array([3, 3, 7], np.int32)
    got, want = s.copy(), s.copy()
    want[twice] += np.float32([1, 2, 4])
    add_postings(got, twice, np.float32([1, 2, 4]), distinct=False)
    assert got.tobytes() == want.tobytes() and got[3] == np.float32(s[3] + 2)
