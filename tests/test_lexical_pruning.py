"""Exact top-k pruning of a first-time query's lexical recall (ranking/recall/query_words.py,
``QueryWordMatcher._pruned``): on random catalogs full of ties, random queries (spaced words,
sub-words, Chinese runs, single characters) with and without a synonym book give the very ids,
scores and order the unpruned catalog-long recall gives under the rule (score descending, product
id ascending), and pruning does skip rows."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex
from ranking.recall.lexical import BM25Index
from ranking.recall.query_words import QueryWordMatcher, _positive

LATIN = ["drill", "cordless", "smartphone", "headphone", "phone", "case", "rice", "cooker", "lamp",
         "desk", "oil", "olive", "kit", "tablet", "wireless", "vacuum", "cleaner"]
HAN = ["手机", "平板电脑", "电脑", "大米", "吸尘器", "耳机", "手", "机", "电", "米", "华为", "橄榄油"]
QUERY_ONLY = ["phon", "clean", "lessdrill", "手机壳", "华为手机", "电米", "zzz"]  # sub-words, unheld


def _catalog(seed: int) -> tuple[BM25Index, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(300, 1500))
    base = [" ".join(rng.choice(LATIN + HAN, size=rng.integers(1, 5))) for _ in range(n // 3)]
    texts = [base[i] for i in rng.integers(0, len(base), size=n)]  # repeated texts: tied scores
    ids = rng.permutation(10 * n)[:n].astype(np.int64)
    return BM25Index.build(texts, ids), rng


def _query(rng: np.random.Generator) -> str:
    words = list(rng.choice(LATIN + HAN + QUERY_ONLY, size=rng.integers(1, 4)))
    if rng.random() < 0.3:  # a Chinese run of words typed together
        words = ["".join(rng.choice(HAN, size=2)), *words[1:]]
    return " ".join(words)


def _book(rng: np.random.Generator) -> SynonymIndex:
    pool = LATIN + HAN + QUERY_ONLY
    return SynonymIndex([Synonym(terms=list(rng.choice(pool, size=rng.integers(2, 4), replace=False)),
                                 reason="r", id=f"s{i}") for i in range(12)])


def _unpruned(m: QueryWordMatcher, query: str, k: int, rewrite, weight: float) -> tuple[list, list]:
    """The catalog-long recall, every recalled row sorted by the rule: its first k."""
    rows, s = _positive(*m.scores(query, rewrite, weight))
    order = np.lexsort((m.bm25.product_ids[rows], -s))[:k]
    return m.bm25.product_ids[rows[order]].tolist(), s[order].tolist()


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_pruned_recall_is_the_unpruned_top_k_on_random_queries(seed: int, gated: bool, monkeypatch) -> None:
    """``gated``: the cost tests decide as in the service (at this size the seed rarely pays:
    the answers must be the same whichever form runs); else every pruning is tried."""
    bm25, rng = _catalog(seed)
    book = _book(rng)
    reference = QueryWordMatcher(bm25, 4, 3, 0.5)
    pruned = QueryWordMatcher(bm25, 4, 3, 0.5)
    calls = {"pruned": 0, "skipped": 0}
    real = QueryWordMatcher._pruned

    def counted(self, query, words, plain, alternatives, terms, weight, k):
        got = real(self, query, words, plain, alternatives, terms, weight, k)
        if got is not None:
            calls["pruned"] += 1
            everything = len(_positive(*self.scores(query, None, weight))[0]) if not alternatives else None
            calls["skipped"] += everything is not None and len(got[0]) < everything
        return got

    # the small catalog takes the union's form: here every query not plain is pruned (or falls back)
    monkeypatch.setattr(QueryWordMatcher, "_union_scores", lambda self, *a: None)
    monkeypatch.setattr(QueryWordMatcher, "_pruned", counted)
    if not gated:
        monkeypatch.setattr(QueryWordMatcher, "_sparse_cheaper", lambda self, *a: True)
    for _ in range(60):
        query = _query(rng)
        for rewrite in (None, book.rewrite(query)):
            for k in (1, 3, 10, 40):
                weight = float(rng.choice([0.5, 0.9, 1.0]))
                want = _unpruned(reference, query, k, rewrite, weight)
                ids, scores = pruned._lexical(query, k, rewrite, weight)
                assert (ids.tolist(), scores.tolist()) == want, (query, rewrite, k)
    if not gated:
        assert calls["pruned"] > 100 and calls["skipped"] > 20  # pruning ran, and left rows unscored


def test_a_tie_at_the_kth_lexical_score_goes_to_the_lower_product_ids(monkeypatch) -> None:
    ids = np.array([90, 10, 70, 30, 50, 20, 80, 40, 60, 100, 5], dtype=np.int64)
    texts = ["平板电脑 lamp"] * 6 + ["平板电脑"] * 4 + ["电脑"]
    m = QueryWordMatcher(BM25Index.build(texts, ids), 4, 3, 0.5)
    for forced in (False, True):
        if forced:
            monkeypatch.setattr(QueryWordMatcher, "_union_scores", lambda self, *a: None)
            monkeypatch.setattr(QueryWordMatcher, "_sparse_cheaper", lambda self, *a: True)
        m = QueryWordMatcher(m.bm25, 4, 3, 0.5)
        got, scores = m.lexical("平板电脑 lamp", 3)
        assert got.tolist() == [10, 20, 30] and len(set(scores.tolist())) == 1
        got, _ = m.lexical("平板电脑 lamp", 8)
        assert got.tolist() == [10, 20, 30, 50, 70, 90, 40, 60]  # six tied, then the lowest of four
        got, _ = m.lexical("平板电脑", 2)  # the four shorter titles first; "电脑" alone (5) never recalled
        assert got.tolist() == [40, 60] and 5 not in m.lexical("平板电脑", 20)[0].tolist()
