"""Large synonym terms kept by their bytes (ranking/recall/kept_terms.py, BytesMemo)."""

from __future__ import annotations

import pickle

import numpy as np

from ranking.recall.kept_terms import ENTRY_BYTES, BytesMemo

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
