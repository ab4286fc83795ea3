"""BoundedMemo keeps at most its size, the oldest out, and survives threads filling it at once;
BytesMemo keeps at most its bytes."""

from __future__ import annotations

import pickle

import numpy as np
from threads_at_once import run_at_once

from ranking.bounded_memo import ENTRY_BYTES, BoundedMemo, BytesMemo


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


# ---- BytesMemo: bounded by the bytes of its arrays (large synonym terms and matches)
ROW = 8  # bytes a row of _term's arrays


def _term(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.int32), np.ones(n, dtype=np.float32)


def test_the_oldest_terms_go_past_the_byte_limit() -> None:
    memo = BytesMemo(limit=2 * ENTRY_BYTES + ROW * 250)
    for name in ("a", "b", "c"):
        memo.put(name, _term(100))
    assert "a" not in memo and memo.get("b") is not None and memo.get("c") is not None
    assert memo.nbytes == 2 * (ENTRY_BYTES + ROW * 100)


def test_a_term_over_the_limit_alone_is_not_kept() -> None:
    memo = BytesMemo(limit=ENTRY_BYTES + ROW * 50)
    got = memo.put("big", _term(100))
    assert len(got[0]) == 100 and "big" not in memo and memo.nbytes == 0


def test_a_term_put_again_counts_its_bytes_once() -> None:
    memo = BytesMemo(limit=ENTRY_BYTES + ROW * 150)
    memo.put("a", _term(100))
    memo.put("a", _term(100))
    assert memo.nbytes == ENTRY_BYTES + ROW * 100 and len(memo) == 1


def test_it_pickles_empty_with_its_limit() -> None:
    memo = BytesMemo(limit=1000)
    memo.put("a", _term(10))
    back = pickle.loads(pickle.dumps(memo))
    assert len(back) == 0 and back.limit == 1000 and back.nbytes == 0


def test_an_empty_value_counts_its_entry() -> None:
    memo = BytesMemo(limit=3 * ENTRY_BYTES)
    for name in "abcd":
        memo.put(name, ())
    assert len(memo) == 3 and "a" not in memo and memo.get("d") == ()
