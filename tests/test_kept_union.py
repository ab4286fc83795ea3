"""The recall union kept by its lists (ranking/pipeline/kept_union.py): the same columns as a new
union, refreshed when a list changes, read-only, a set of its own per call."""

from __future__ import annotations

import gc
import pickle
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pytest

from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.kept_union import CONTENT_KEY_MAX, KeptUnions, union_key


def _fixed(values, dtype=np.int64) -> np.ndarray:
    a = np.array(values, dtype=dtype)
    a.setflags(write=False)
    return a


def _search_like(seed: int = 0) -> tuple[dict, dict]:
    """Two kept (read-only) sources' lists and the pins' list, as a repeated query gives them."""
    rng = np.random.default_rng(seed)
    parts = {name: (_fixed(rng.choice(300, 120, replace=False)), _fixed(rng.random(120), np.float64))
             for name in ("lexical", "dense")}
    added = {"pinned": (_fixed([7, 299, 1000]), _fixed([0.0, 0.0, 0.0], np.float64))}
    return parts, added


def _homepage_like(seed: int = 0) -> dict:
    """Sources' lists made per call (writable, short), with scores made per call."""
    rng = np.random.default_rng(seed)
    return {f"s{i}": (rng.choice(200, n, replace=False), -np.arange(n, dtype=np.float64))
            for i, n in enumerate((40, 150, 30, 0))}


def _same(a: CandidateSet, b: CandidateSet) -> None:
    np.testing.assert_array_equal(a.product_ids, b.product_ids)
    assert list(a.source_scores) == list(b.source_scores) and list(a.source_ranks) == list(b.source_ranks)
    for name in a.source_scores:
        np.testing.assert_array_equal(a.source_scores[name], b.source_scores[name])
        np.testing.assert_array_equal(a.source_ranks[name], b.source_ranks[name])
        assert a.source_ranks[name].dtype == b.source_ranks[name].dtype


@pytest.mark.parametrize("seed", range(4))
def test_a_kept_union_is_the_union_column_for_column_and_a_repeat_is_a_lookup(seed):
    unions = KeptUnions()
    home = _homepage_like(seed)
    # a repeated query's same kept arrays; a homepage's lists made anew per call, same values
    for (parts, added), repeat in ((_search_like(seed), None),
                                   ((home, None), {k: (v[0].copy(), v[1].copy()) for k, v in home.items()})):
        made, recalled = CandidateSet.union_counted(parts, added)
        first, first_recalled = unions.union_counted(parts, added)
        again, again_recalled = unions.union_counted(repeat or parts, added)
        _same(first, made)
        _same(again, made)
        assert first_recalled == again_recalled == recalled
        assert again.product_ids is first.product_ids  # kept, not joined again
        assert again is not first and again.source_scores is not first.source_scores
    assert len(unions) == 2


def test_the_kept_columns_are_read_only_and_each_call_has_its_own_set():
    unions = KeptUnions()
    parts, added = _search_like()
    one, _ = unions.union_counted(parts, added)
    two, _ = unions.union_counted(parts, added)
    for column in (one.product_ids, *one.source_scores.values(), *one.source_ranks.values()):
        with pytest.raises(ValueError):
            column[0] = column[1]
    one.adjustments[:] = 5.0  # what the stages write is the set's own
    one.source_scores["extra"] = np.zeros(len(one))
    assert not two.adjustments.any() and "extra" not in two.source_scores
    assert one.rule_notes is not two.rule_notes


def test_a_changed_list_joins_again():
    unions = KeptUnions()
    parts, added = _search_like()
    unions.union_counted(parts, added)
    # a new kept result for the query (another array, here with other ids), new pins, a new
    # homepage list: each is a new union
    lexical_ids, lexical_scores = parts["lexical"]
    changed = {**parts, "lexical": (_fixed(np.r_[lexical_ids[:-1], 5000]), lexical_scores)}
    got, _ = unions.union_counted(changed, added)
    _same(got, CandidateSet.union_counted(changed, added)[0])
    assert 5000 in got.product_ids
    pins = {"pinned": (_fixed([4000]), _fixed([0.0], np.float64))}
    _same(unions.union_counted(parts, pins)[0], CandidateSet.union_counted(parts, pins)[0])
    _same(unions.union_counted(parts)[0], CandidateSet.union_counted(parts)[0])  # no pins now
    home = _homepage_like()
    home["s0"][0][0] = 199 if home["s0"][0][0] != 199 else 198
    unions.union_counted(_homepage_like())
    _same(unions.union_counted(home)[0], CandidateSet.union_counted(home)[0])
    # the lists' names and where the sources end count too
    renamed = {"dense": parts["dense"], "lexical": parts["lexical"]}
    _same(unions.union_counted(renamed, added)[0], CandidateSet.union_counted(renamed, added)[0])
    assert union_key(parts, added)[0] != union_key({**parts, **added}, None)[0]


def test_an_array_that_could_change_is_not_kept_by_identity():
    writable = np.arange(10, dtype=np.int64)
    view = writable[:5]
    view.setflags(write=False)  # read-only, but its base can still be written
    scores = _fixed(np.zeros(5), np.float64)
    key, held = union_key({"a": (view, scores)}, None)
    assert view not in [h for h in held if h is view] and id(view) not in key  # keyed by its bytes
    unions = KeptUnions()
    before, _ = unions.union_counted({"a": (view, scores)})
    writable[0] = 99
    after, _ = unions.union_counted({"a": (view, scores)})
    assert after.product_ids[0] == 99 and before.product_ids[0] == 0
    # a long list that is not fixed (a caller's own list to rerank) is not kept at all
    long = np.arange(CONTENT_KEY_MAX + 1, dtype=np.int64)
    assert union_key({"caller": (long, -np.arange(len(long), dtype=np.float64))}, None) is None
    got, _ = unions.union_counted({"caller": (long, -np.arange(len(long), dtype=np.float64))})
    assert got.product_ids.flags.writeable and len(unions) == 2
    assert union_key({"a": ([1, 2], [0.0, 1.0])}, None) is None  # not arrays: not kept


@contextmanager
def _only_new_objects_collected() -> Iterator[None]:
    """``gc.collect()`` inside the block walks only the objects made inside it: the heap as it
    was is collected once, then frozen (``gc.freeze``) until the block ends. Every cycle the block
    makes is still collected by each call, but an xdist worker that has run a hundred modules
    holds ~2M objects, and a full collection over them cost ~0.4 s of CPU, 50 times here.

    The heap goes back unfrozen only if nothing was frozen before: an app started in this process
    (``serving.app``'s lifespan freezes the heap after its start) keeps its objects frozen, and
    ``gc.unfreeze`` cannot tell its objects from this block's."""
    frozen_before = gc.get_freeze_count()
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()


class _Node:
    pass


def test_the_frozen_heap_still_collects_the_blocks_cycles_and_is_given_back():
    frozen_before = gc.get_freeze_count()
    with _only_new_objects_collected():
        node = _Node()
        node.me = node  # a cycle: only the cyclic collector frees it
        gone = weakref.ref(node)
        del node
        gc.collect()
        assert gone() is None
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0 if not frozen_before else gc.get_freeze_count() >= frozen_before


def test_a_kept_entry_holds_its_lists_so_a_new_array_cannot_take_their_ids():
    unions = KeptUnions()
    with _only_new_objects_collected():
        for step in range(50):  # freed arrays' ids are reused at once when nothing holds them
            parts, added = _search_like(step)
            _same(unions.union_counted(parts, added)[0], CandidateSet.union_counted(parts, added)[0])
            del parts, added
            gc.collect()


def test_only_the_last_unions_are_kept_and_the_memo_pickles_empty():
    unions = KeptUnions(3)
    for seed in range(5):
        unions.union_counted(*_search_like(seed))
    assert len(unions) == 3
    back = pickle.loads(pickle.dumps(unions))
    assert len(back) == 0
    parts, added = _search_like(9)
    _same(back.union_counted(parts, added)[0], CandidateSet.union_counted(parts, added)[0])


def test_concurrent_callers_get_the_union():
    unions = KeptUnions(4)
    lists = [_search_like(seed) for seed in range(6)] + [(_homepage_like(seed), None) for seed in range(6)]
    wanted = [CandidateSet.union_counted(*m)[0] for m in lists]

    def call(i: int) -> None:
        _same(unions.union_counted(*lists[i % len(lists)])[0], wanted[i % len(lists)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(600)))
