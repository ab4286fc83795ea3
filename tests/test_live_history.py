"""Per-shopper history stays bounded: rings keep the last N, ignored cards keep the most recent."""

from __future__ import annotations

import numpy as np

from ranking.live.history import IgnoredCards, Ring, ShopperHistory


def test_a_ring_keeps_the_last_n_values_per_row_newest_first() -> None:
    ring = Ring(3, {"item": np.dtype(np.int32), "time": np.dtype(np.int32)})
    ring.reserve(2)
    rows = np.array([0, 0, 1, 0, 0, 0])
    seq = ring.push(rows, {"item": np.arange(6, dtype=np.int32), "time": np.arange(6, dtype=np.int32)})
    assert seq.tolist() == [0, 1, 0, 2, 3, 4]
    assert ring.read(0)["item"].tolist() == [5, 4, 3]  # 0 and 1 fell out: never more than 3
    assert ring.read(1)["item"].tolist() == [2]
    ring.push(np.array([1] * 10), {"item": np.arange(10, 20, dtype=np.int32),
                                   "time": np.arange(10, dtype=np.int32)})
    assert ring.read(1)["item"].tolist() == [19, 18, 17]
    assert ring.held(np.array([0, 0]), np.array([1, 2])).tolist() == [False, True]


def test_ignored_cards_count_showings_and_forget_a_clicked_or_old_card() -> None:
    cards = IgnoredCards(2, window_seconds=100)
    cards.reserve(1)
    row = np.array([0])
    for t in (0, 10, 20):
        cards.show(row, np.array([7]), np.array([t]))
    items, shown = cards.read(0, now=20)
    assert items.tolist() == [7] and shown.tolist() == [3]
    cards.show(np.array([0, 0]), np.array([8, 9]), np.array([30, 31]))  # two new cards, two slots
    items, _ = cards.read(0, now=31)
    assert sorted(items.tolist()) == [8, 9]  # 7 was the least recently shown: it went
    cards.clear(row, np.array([8]))
    assert cards.read(0, now=31)[0].tolist() == [9]
    assert cards.read(0, now=200)[0].tolist() == []  # outside the window


def test_folding_merges_two_histories_by_time_and_empties_the_source() -> None:
    h = ShopperHistory(interactions=4, queries=2, bought=2, ignored=2, ignore_window_seconds=100)
    h.reserve(2)
    h.interactions.push(np.array([0, 0]), {"item": np.array([1, 2], np.int32),
                                          "time": np.array([10, 30], np.int32),
                                          "kind": np.zeros(2, np.int8)})
    h.interactions.push(np.array([1, 1]), {"item": np.array([3, 4], np.int32),
                                          "time": np.array([20, 40], np.int32),
                                          "kind": np.zeros(2, np.int8)})
    h.fold(0, 1)
    assert h.interactions.read(1)["item"].tolist() == [4, 2, 3, 1]
    assert h.interactions.read(0)["item"].tolist() == []


def test_reading_many_rows_at_once_gives_each_rows_own_read() -> None:
    rng = np.random.default_rng(3)
    ring = Ring(4, {"item": np.dtype(np.int32), "time": np.dtype(np.int32)})
    ring.reserve(5)
    rows = rng.integers(0, 4, 30)  # row 4 never pushed, row 9 never reserved
    ring.push(rows, {"item": np.arange(30, dtype=np.int32), "time": np.arange(30, dtype=np.int32)})
    asked = np.array([2, 4, 0, 9, 2, 1, 3])
    of, values = ring.read_rows(asked)
    for i, row in enumerate(asked.tolist()):
        one = ring.read(row) if row < 5 else {"item": np.zeros(0), "time": np.zeros(0)}
        assert values["item"][of == i].tolist() == one["item"].tolist()
        assert values["time"][of == i].tolist() == one["time"].tolist()

    cards = IgnoredCards(3, window_seconds=50)
    cards.reserve(4)
    for t in range(0, 100, 5):  # cards shown at different times, some often, one clicked
        cards.show(rng.integers(0, 4, 6), rng.integers(0, 8, 6).astype(np.int32), np.full(6, t))
    cards.clear(np.array([1]), np.array([3]))
    asked, nows = np.array([3, 0, 1, 3, 2, 7]), np.array([95, 95, 120, 140, 60, 95])
    of, items, shown = cards.read_rows(asked, nows)
    for i, (row, now) in enumerate(zip(asked.tolist(), nows.tolist(), strict=True)):
        one = cards.read(row, now)
        assert items[of == i].tolist() == one[0].tolist() and shown[of == i].tolist() == one[1].tolist()
    assert len(cards.read_rows(np.array([0]), np.array([95]))[1]) > 0  # the test reads something


def test_ignored_cards_take_the_states_int32_times_as_int64_ones() -> None:
    """The state's times are int32 and the newest showing per card is an int64 ``maximum.at``
    (the times cast first for numpy's fast loop): the same cards, counts and times either way."""
    rng = np.random.default_rng(5)
    got, ref = IgnoredCards(size=6, window_seconds=3_000), IgnoredCards(size=6, window_seconds=3_000)
    for cards in (got, ref):
        cards.reserve(20)
    for t in range(0, 20_000, 500):
        rows, items = rng.integers(0, 20, 300), rng.integers(0, 40, 300).astype(np.int32)
        times = (t + rng.integers(0, 400, 300)).astype(np.int32)
        got.show(rows, items, times)
        ref.show(rows, items, times.astype(np.int64))
    for name in ("item", "shown", "last"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
