"""BoundedMemo keeps at most its size, the oldest out, and survives threads filling it at once."""

from __future__ import annotations

import pickle

from threads_at_once import run_at_once

from ranking.bounded_memo import BoundedMemo


def test_the_oldest_leaves_past_the_size_and_a_hit_does_not_reorder():
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    assert memo.put("a", 1) == 1 and memo.get("a") == 1
    memo.put("b", 2)
    assert memo.get("a") == 1  # a hit: "a" stays the oldest
    memo.put("c", 3)
    assert memo.get("a") is None and memo.get("b") == 2 and memo.get("c") == 3 and len(memo) == 2


def test_threads_filling_one_memo_never_break_it():
    memo: BoundedMemo[tuple[int, int], int] = BoundedMemo(50)
    errors: list[BaseException] = []

    def fill(t: int) -> None:
        try:
            for i in range(20_000):
                memo.put((t, i), i)
                memo.get((t, i - 1))
        except BaseException as exc:
            errors.append(exc)

    run_at_once(fill, [(t,) for t in range(4)])
    assert not errors and len(memo) == 50


def test_a_pickled_memo_is_an_empty_one_of_the_same_size():
    memo: BoundedMemo[str, int] = BoundedMemo(3)
    memo.put("a", 1)
    copy = pickle.loads(pickle.dumps(memo))  # training's workers get recall pickled
    assert copy.size == 3 and len(copy) == 0
    copy.put("b", 2)
    assert copy.get("b") == 2 and memo.get("b") is None


def test_kept_makes_a_value_once_and_a_memo_of_size_zero_keeps_nothing():
    made = []

    def make(value):
        return lambda: made.append(value) or value

    memo: BoundedMemo[str, int] = BoundedMemo(2)
    assert memo.kept("a", make(1)) == 1 and memo.kept("a", make(9)) == 1 and made == [1]
    off: BoundedMemo[str, int] = BoundedMemo(0)
    assert off.kept("a", make(2)) == 2 and off.kept("a", make(3)) == 3 and len(off) == 0
    assert off.put("b", 4) == 4 and len(off) == 0


def test_read_only_freezes_an_array_and_a_tuples_arrays():
    import numpy as np

    from ranking.bounded_memo import read_only

    one, pair = read_only(np.arange(3)), read_only((np.arange(2), np.ones(2), "text"))
    assert not one.flags.writeable and not pair[0].flags.writeable and not pair[1].flags.writeable
