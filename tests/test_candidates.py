"""What flows through the pipeline: the candidate set's union keeps every source's provenance, its
rule notes are made only when asked for, and its ``take`` keeps notes and located rows aligned."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.features.snapshot import EntityTable
from ranking.pipeline.candidates import CandidateSet, first_listings


def test_union_deduplicates_and_keeps_provenance():
    c = CandidateSet.union({"lexical": (np.array([5, 7, 9]), np.array([3.0, 2.0, 1.0])),
                            "dense": (np.array([9, 11]), np.array([0.9, 0.8]))})
    assert list(c.product_ids) == [5, 7, 9, 11]
    assert list(c.source_ranks["lexical"]) == [1, 2, 3, 0]
    assert list(c.source_ranks["dense"]) == [0, 0, 1, 2]
    assert np.isnan(c.source_scores["dense"][0]) and c.source_scores["dense"][2] == 0.9
    assert c.sources[2] == ["lexical", "dense"]


def test_union_keeps_a_sources_first_listing_of_an_id_and_takes_empty_sources():
    c = CandidateSet.union({"a": (np.array([4, 2, 4, 8]), np.array([1.0, 2.0, 3.0, 4.0], np.float32)),
                            "empty": (np.zeros(0, np.int64), np.zeros(0)),
                            "b": (np.array([8, 8, 1]), np.array([0.5, 0.25, 0.125]))})
    assert c.product_ids.tolist() == [4, 2, 8, 1]  # by first appearance, sources in order
    assert c.source_ranks["a"].tolist() == [1, 2, 4, 0]  # 4 listed twice: its first rank
    assert c.source_scores["a"][:3].tolist() == [1.0, 2.0, 4.0] and c.source_scores["a"].dtype == np.float64
    assert c.source_ranks["b"].tolist() == [0, 0, 1, 3] and c.source_scores["b"][2] == 0.5
    assert c.source_ranks["empty"].tolist() == [0, 0, 0, 0] and np.isnan(c.source_scores["empty"]).all()
    assert c.source_ranks["a"].dtype == np.int32
    nothing = (np.zeros(0, np.int64), np.zeros(0))
    assert not len(CandidateSet.union({})) and not len(CandidateSet.union({"a": nothing}))


def test_rule_notes_are_made_only_when_asked_for_and_read_as_a_list_of_lists():
    c = CandidateSet(np.arange(50_000))
    assert len(c.rule_notes) == 50_000 and not c.rule_notes._lists  # no list made for a new set
    c.rule_notes[3].append({"rule": "a"})
    assert c.rule_notes[3] is c.rule_notes[3] and c.rule_notes[-49_997] == [{"rule": "a"}]
    assert c.rule_notes[4] == [] and len(c.rule_notes._lists) == 2  # a read makes one, as a list
    with pytest.raises(IndexError):
        c.rule_notes[50_000]
    small = CandidateSet(np.arange(4))
    small.rule_notes[1].append({"rule": "b"})
    assert small.rule_notes == [[], [{"rule": "b"}], [], []] and list(small.rule_notes) == small.rule_notes[:]
    assert any(small.rule_notes) and small.notes(1) == [{"rule": "b"}]
    given = [[], [{"rule": "c"}]]
    held = CandidateSet(np.array([1, 2]), rule_notes=given)
    assert held.rule_notes[1] is given[1] and held.rule_notes == given  # a list of lists given


def test_take_shares_the_notes_made_so_far_in_its_own_order():
    c = CandidateSet(np.arange(10, 20))
    c.rule_notes[2].append({"rule": "a"})
    c.rule_notes[7].append({"rule": "b"})
    page = c.take(np.array([7, 0, 2]))
    assert page.rule_notes == [[{"rule": "b"}], [], [{"rule": "a"}]]
    page.rule_notes[0].append({"rule": "c"})  # the same list as the parent's, as before
    assert c.rule_notes[7] == [{"rule": "b"}, {"rule": "c"}]
    kept = c.take(np.arange(10) % 3 == 2)  # rows 2, 5, 8
    assert kept.rule_notes == [[{"rule": "a"}], [], []] and len(c.take(np.zeros(10, bool)).rule_notes) == 0
    assert c.take(np.array([-3])).rule_notes == [[{"rule": "b"}, {"rule": "c"}]]  # from the end


def test_take_carries_the_located_rows_and_a_swapped_table_is_looked_up_anew():
    table = EntityTable(np.arange(100, 200), {"price": np.arange(100.0)})
    c = CandidateSet(np.array([150, 999, 120, 130]))
    calls = []
    rows = table.rows
    table.rows = lambda ids: calls.append(len(ids)) or rows(ids)  # type: ignore[method-assign]
    c.rows_in(table)
    taken = c.take(np.array([True, True, False, True]))
    safe, known = taken.rows_in(table)
    assert calls == [4] and safe.tolist() == [50, 0, 30] and known.tolist() == [True, False, True]
    assert c.take(np.array([1])).rows_in(table)[1].tolist() == [False] and calls == [4]
    swapped = EntityTable(np.arange(90, 190), {"price": np.arange(100.0)})  # the live catalog's swap
    assert taken.rows_in(swapped)[0].tolist() == [60, 0, 40]


def _first_listings_by_unique(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union's former way: np.unique's stable argsort, then the first appearances in order."""
    distinct, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    by_first = np.argsort(first)
    where = np.empty(len(first), dtype=np.int64)
    where[by_first] = np.arange(len(first))
    return distinct[by_first], where[inverse.ravel()]


@pytest.mark.parametrize("low, high", [(0, 60), (0, 50_000), (-40, 40), (0, 2**62), (2**40, 2**40 + 9)])
def test_first_listings_is_the_unique_way_for_any_ids(low, high):
    rng = np.random.default_rng(high % 1000)
    for size in (0, 1, 2, 7, 640, 1_000, 3_000):
        ids = rng.integers(low, high, size, dtype=np.int64)
        product_ids, where = first_listings(ids)
        expected_ids, expected_where = _first_listings_by_unique(ids)
        assert product_ids.tolist() == expected_ids.tolist() and where.tolist() == expected_where.tolist()
        assert (product_ids[where] == ids).all()


def test_rule_notes_append_notes_rows_as_appending_one_by_one():
    from ranking.pipeline.rule_notes import RuleNotes

    shared, a, b = {"rule": "x"}, {"rule": "a"}, {"rule": "b"}
    bulk, one_by_one = RuleNotes(5), RuleNotes(5)
    bulk[3].append(a)  # a list made before
    one_by_one[3].append(a)
    bulk.append([1, 3], shared)
    bulk.append([0, 3], [a, b])
    for i in (1, 3):
        one_by_one[i].append(shared)
    one_by_one[0].append(a)
    one_by_one[3].append(b)
    assert bulk == one_by_one and list(bulk) == [[a], [shared], [], [a, shared, b], []]
    assert bulk[1][0] is shared and bulk[3][1] is shared  # the one dict, shared
    bulk.append([], shared)
    with pytest.raises(IndexError):
        bulk.append([5], shared)
    with pytest.raises(IndexError):
        bulk.append([-1], shared)
    with pytest.raises(ValueError):
        bulk.append([0, 1], [a])


def test_sources_are_each_cards_recalling_sources_in_the_sources_order():
    rng = np.random.default_rng(2)
    names = [f"s{j}" for j in range(7)]
    ranks = {n: np.where(rng.random(30) < 0.2, rng.integers(1, 50, 30), 0) for n in names}
    c = CandidateSet(np.arange(30), source_ranks=ranks)
    assert c.sources == [[n for n in names if ranks[n][i] > 0] for i in range(30)]
    assert any(len(s) > 1 for s in c.sources) and any(not s for s in c.sources)
    assert CandidateSet(np.arange(0), source_ranks={n: np.zeros(0) for n in names}).sources == []


@pytest.mark.parametrize("high", [5, 1_000_000])  # repeats (the general union) and none (one list's way)
def test_the_union_of_one_list_is_the_general_unions(high):
    rng = np.random.default_rng(high)
    for size in (0, 1, 7, 300):
        ids = rng.choice(high, size=size, replace=high < size or high == 5)
        scores = rng.normal(size=size).astype(np.float32)
        got, recalled = CandidateSet.union_counted({"caller": (ids, scores)})
        general = CandidateSet.union({"caller": (ids, scores), "none": (np.zeros(0, np.int64), np.zeros(0))})
        assert got.product_ids.tolist() == general.product_ids.tolist() and recalled == len(general)
        assert got.product_ids.dtype == np.int64 and got.product_ids is not ids
        pairs = (got.source_scores, general.source_scores), (got.source_ranks, general.source_ranks)
        for column, want in pairs:
            assert list(column) == ["caller"]
            np.testing.assert_array_equal(column["caller"], want["caller"])
            assert column["caller"].dtype == want["caller"].dtype and column["caller"].flags.writeable
