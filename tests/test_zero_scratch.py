"""The zeroed catalog-long arrays lent per thread (ranking/recall/zero_scratch.py) and the synonym
matches summed in them (QueryWordMatcher._match, _text_scores_lent): lent zeros, given back
zeros, one per thread, never a half-written one, sized by the matcher's index, and the same
match rows and adds, bit for bit, as fresh arrays give."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from ranking.bounded_memo import BytesMemo
from ranking.merchandising.synonym import Synonym
from ranking.merchandising.synonym_index import SynonymIndex
from ranking.recall import zero_scratch
from ranking.recall.search import SearchRecall
from ranking.recall.zero_scratch import ZeroScratch, reset
from ranking.settings import RecallSettings

WORDS = ["cordless", "drill", "battery", "phone", "case", "leather", "rice", "cooker",
         "手机", "电饭煲", "大米"]


def test_an_array_is_lent_zeroed_given_back_and_lent_again_on_the_same_thread_only() -> None:
    lender = ZeroScratch(100, np.float32)
    first = lender.take()
    assert first.dtype == np.float32 and len(first) == 100 and not first.any()
    assert lender.take() is not first  # lent out already: a new one
    lender.give(first)
    other: list = []
    thread = threading.Thread(target=lambda: other.append(lender.take()))
    thread.start()
    thread.join()
    assert other[0] is not first  # another thread's own
    assert lender.take() is first
    copy = pickle.loads(pickle.dumps(lender))  # a new empty lender of the same size
    assert copy.size == 100 and copy.dtype == np.float32 and copy.take() is not first


@pytest.mark.parametrize("rows", [3, 60])  # a few rows set back one by one, many by a fill
def test_reset_zeroes_what_was_written(rows: int) -> None:
    """At the written rows when they are few (a row nobody wrote keeps its value: no fill ran),
    the whole array when they are more than 1 / SCATTER_COST of it."""
    array = np.zeros(100, np.float32)
    written = [np.arange(rows), np.array([99])]
    for at in written:
        array[at] = 7
    array[50] = 1  # not written: a fill clears it, rows set back one by one do not
    reset(array, written)
    fill = zero_scratch.SCATTER_COST * (rows + 1) > len(array)
    assert array[50] == (0 if fill else 1)
    array[50] = 0
    assert not array.any()


@pytest.fixture()
def matcher():
    rng = np.random.default_rng(4)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 5))) for _ in range(2000)]
    recall = SearchRecall.from_texts(texts, np.arange(2000) + 1, dim=4)
    recall.use_query_words_from(RecallSettings(search_results_kept=0))
    return recall


def test_a_match_is_summed_in_the_lent_array_and_gives_it_back_zeroed(matcher, monkeypatch) -> None:
    """A match of several held terms whose words are not the query's (its best and its own scores
    both summed in this thread's lent array) gives the rows and adds fresh arrays give, bit for
    bit, and leaves the lent array all zeros; a match that fails mid-sum never gives it back."""
    from ranking.recall import query_words

    monkeypatch.setattr(query_words, "SPARSE_COST", 10**9)  # the catalog-long form, which makes matches
    m = matcher.query_words
    rewrite = SynonymIndex([Synonym(terms=["phone", "battery", "电饭煲", "rice"], reason="t", id="a")]
                           ).rewrite("phone case")
    taken: list = []
    real_take = m._scratch.take
    m._scratch.take = lambda: taken.append(1) or real_take()
    got = m.lexical("phone case", 50, rewrite, 0.5)
    lent = m._scratch.take()
    assert len(taken) >= 2 and not lent.any()  # best and own both borrowed, and given back zeros
    m._scratch.give(lent)
    fresh = type(m)(m.bm25, m.min_length, m.max_expansions, m.weight, results=0)
    fresh._scratch.take = lambda: np.zeros(fresh._scratch.size, fresh._scratch.dtype)
    want = fresh.lexical("phone case", 50, rewrite, 0.5)
    assert got[0].tolist() == want[0].tolist() and got[1].tobytes() == want[1].tobytes()
    m._matches = BytesMemo(1 << 20)
    m._own = lambda *a: (_ for _ in ()).throw(RuntimeError("mid-sum"))
    given, give = [], m._scratch.give
    m._scratch.give = lambda array: (given.append(array), give(array))[1]
    with pytest.raises(RuntimeError):
        m.lexical("phone case", 50, rewrite, 0.5)
    back = m._scratch.take()  # best was zeroed and given back before own failed: lent again, zeros
    assert len(given) == 1 and back is given[0] and not back.any()


def test_a_new_index_gets_a_lender_of_its_own_size(matcher) -> None:
    assert matcher.query_words._scratch.size == 2000
    bigger = SearchRecall.from_texts([*["phone case"] * 2001], np.arange(2001) + 1, dim=4)
    matcher.replace_products(bigger.bm25, bigger.index, bigger.vectors)
    assert matcher.query_words._scratch.size == 2001
    assert len(matcher.query_words._scratch.take()) == 2001
