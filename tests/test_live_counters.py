"""Windowed counters: a bucket leaves the window when time passes it, and the live signals follow."""

from __future__ import annotations

import numpy as np

from ranking.live.counters import CLICKS, IMPRESSIONS, BucketRing, WindowedCounters


def test_a_bucket_ring_sums_its_window_and_forgets_what_left_it() -> None:
    ring = BucketRing(buckets=6, bucket_seconds=600)  # the last hour
    ring.reserve(2)
    ring.add(np.array([0, 0, 1]), np.array([0, 100, 700]), CLICKS, np.ones(3, np.float32))
    assert ring.sums(np.array([0, 1]), now=700)[:, CLICKS].tolist() == [2, 1]
    assert ring.sums(np.array([0, 1]), now=3600)[:, CLICKS].tolist() == [0, 1]  # row 0's bucket left
    ring.add(np.array([1]), np.array([7200]), CLICKS, np.ones(1, np.float32))  # an hour later
    assert ring.sums(np.array([0, 1]), now=7200)[:, CLICKS].tolist() == [0, 1]
    ring.add(np.array([0]), np.array([100]), CLICKS, np.ones(1, np.float32))  # older than the window
    assert ring.outside_window == 1 and ring.sums(np.array([0]), now=7200)[0, CLICKS] == 0
    assert ring.total(7200)[CLICKS] == 1


def test_live_ctr_is_shrunk_toward_the_mall_and_trend_sees_a_burst() -> None:
    c = WindowedCounters(10, 60, ctr_prior_impressions=10, trend_prior=1)
    c.reserve(2)
    t = np.full(40, 50_000)
    c.add(np.r_[np.zeros(20, int), np.ones(20, int)], t, IMPRESSIONS)
    c.add(np.zeros(10, int), np.full(10, 50_000), CLICKS)  # row 0: 10 of 20; mall: 10 of 40
    ctr = c.ctr(np.array([0, 1, -1]), now=50_000)
    assert np.allclose(ctr, [(10 + 10 * 0.25) / 30, (0 + 2.5) / 30, 0.25])
    # a burst in the last hour against a quiet day: trend above 1; no activity: 1
    c.add(np.zeros(5, int), np.full(5, 50_000 - 20 * 3600), CLICKS)
    trend = c.trend(np.array([0, 1]), now=50_000)
    assert trend[0] > 5 and trend[1] == 1.0


def test_window_start_is_the_first_second_a_read_counts() -> None:
    """What training's replay counts (events from window_start(now) up to now) is what the ring sums
    when events arrive in time order."""
    rng = np.random.default_rng(2)
    ring = BucketRing(buckets=6, bucket_seconds=600)
    ring.reserve(1)
    times = np.sort(rng.integers(0, 20_000, 400))
    for now in (0, 599, 600, 3599, 3600, 4199, 4200, 9_999, 15_000, 19_999):
        fresh = BucketRing(buckets=6, bucket_seconds=600)
        fresh.reserve(1)
        upto = times[times <= now]
        fresh.add(np.zeros(len(upto), np.int64), upto, CLICKS, np.ones(len(upto), np.float32))
        counted = ((upto >= ring.window_start(now)) & (upto <= now)).sum()
        assert fresh.sums(np.array([0]), now)[0, CLICKS] == counted
    assert ring.window_start(4199) == 600 and ring.window_start(np.array([4200]))[0] == 1200


def test_signals_ctr_and_trend_equal_their_plain_formulas_to_the_bit() -> None:
    """The one-mall CTR prior in Python floats and the trend's three columns added in turn give
    the bits the numpy forms (0-d ``np.divide``, a strided ``sum(axis=1)``) gave."""
    from ranking.live.counters import CLICKS, ORDERS, WindowedCounters, shrunk_ctr

    rng = np.random.default_rng(11)
    c = WindowedCounters(10, 60, 50.0, 2.0)
    for mall_clicks, mall_shown in ((3.0, 7.0), (0.0, 0.0), (np.float64(1 / 3), np.float64(0.7))):
        clicks, shown = rng.random(40) * 9, rng.random(40) * 90
        plain = np.divide(np.asarray(mall_clicks, np.float64), np.asarray(mall_shown, np.float64),
                          out=np.zeros(()), where=np.asarray(mall_shown) > 0)
        expected = (clicks + 50.0 * plain) / np.maximum(shown + 50.0, 1e-9)
        assert shrunk_ctr(clicks, shown, mall_clicks, mall_shown, 50.0).tobytes() == expected.tobytes()
    hour, day = rng.standard_normal((300, 5)) * 1e3, rng.random((300, 5)) * 1e4
    act = slice(CLICKS, ORDERS + 1)
    plain = c.trend_of(hour[:, act].sum(axis=1), day[:, act].sum(axis=1))
    assert c._trend(hour, day).tobytes() == plain.tobytes()


def test_window_sums_add_each_rows_buckets_in_slot_order_whatever_the_window() -> None:
    """The ring holds its values bucket-major and adds whole buckets: each row's sum is still its
    live buckets' float32 values added one by one in slot order (checked with amounts whose sums
    round differently in another order), for a whole day, part of it and a single bucket."""
    rng = np.random.default_rng(4)
    for live in (24, 13, 2, 1):
        ring = BucketRing(buckets=24, bucket_seconds=3600)
        ring.reserve(300)
        assert ring.values.shape == (300, 24, 5)  # rows x buckets x 5, as before
        for b in range(live):
            for metric in range(5):
                amounts = (rng.standard_normal(2_000) * 10.0 ** rng.integers(-3, 7, 2_000)).astype(np.float32)
                ring.add(rng.integers(0, 300, 2_000), np.full(2_000, b * 3600 + 7), metric, amounts)
        now = (live - 1) * 3600 + 10
        slots = ring.live_slots(now)
        rows = rng.integers(-1, 320, 500)
        expected = np.zeros((len(rows), 5), np.float32)
        known = (rows >= 0) & (rows < 300)
        for i in np.flatnonzero(known):
            total = ring.values[rows[i], slots[0]].copy()
            for slot in slots[1:]:
                total = total + ring.values[rows[i], slot]  # float32, one bucket at a time
            expected[i] = total
        assert ring.sums(rows, now).tobytes() == expected.astype(np.float64).tobytes(), live


def _slot_order_sums(ring: BucketRing, rows: np.ndarray, now: int) -> np.ndarray:
    """Each row's live buckets' float32 values added one by one in slot order (0 for rows the
    ring does not hold), as float64: what a read gives."""
    values, slots = ring.values, ring.live_slots(now)
    out = np.zeros((len(rows), 5), np.float32)
    for i in np.flatnonzero((rows >= 0) & (rows < len(values))):
        if len(slots):
            total = values[rows[i], slots[0]].copy()
            for slot in slots[1:]:
                total = total + values[rows[i], slot]
            out[i] = total
    return out.astype(np.float64)


def test_running_window_counts_follow_the_ring_as_buckets_come_and_leave(monkeypatch) -> None:
    """Whole counts are read from the running window (the gather is never called while the read
    is in or past the newest bucket) and equal the buckets' slot-order sums to the bit as time
    enters new buckets, skips some and leaves whole windows behind; GMV, any float, too."""
    rng = np.random.default_rng(9)
    ring = BucketRing(buckets=6, bucket_seconds=600)
    ring.reserve(200)
    gathered = []
    real = BucketRing._counts_summed
    monkeypatch.setattr(BucketRing, "_counts_summed", lambda self, *a: gathered.append(1) or real(self, *a))
    t = 0
    for step in range(80):
        t += int(rng.choice([30, 200, 600, 1_500, 4_000]))
        n = int(rng.integers(1, 300))
        times = t - rng.integers(0, 4_500, n)  # late events, some older than the window
        for metric in range(4):
            ring.add(rng.integers(0, 200, n), times, metric, rng.integers(1, 4, n).astype(np.float32))
        ring.add(rng.integers(0, 200, n), times, 4,
                 (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 7, n)).astype(np.float32))
        rows = rng.integers(-1, 230, 150)
        for now in (t, t + 700, t + 2_000, t + 3_700):
            assert ring.sums(rows, now).tobytes() == _slot_order_sums(ring, rows, now).tobytes(), (step, now)
        assert ring.sums(rows, t, gmv=False).tobytes() == _slot_order_sums(ring, rows, t)[:, :4].tobytes()
    assert ring.whole_counts and ring.outside_window > 0 and not gathered
    before = ring.sums(np.arange(200), t - 700)  # earlier than the newest bucket: gathered
    assert gathered and before.tobytes() == _slot_order_sums(ring, np.arange(200), t - 700).tobytes()


def test_counts_that_are_not_whole_or_reach_2_24_are_gathered_as_before() -> None:
    """A count given a fraction, or one past 2**24 (where float32 stops counting one by one), turns
    the running window off for good: reads are the buckets' float32 sums as before."""
    ring = BucketRing(buckets=6, bucket_seconds=600)
    ring.reserve(3)
    ring.add(np.array([0, 1]), np.array([10, 10]), CLICKS, np.array([2**24, 5], np.float32))
    assert ring.whole_counts
    ring.add(np.array([0, 1]), np.array([20, 20]), CLICKS, np.ones(2, np.float32))  # 2**24 + 1: no float32
    assert not ring.whole_counts
    assert ring.sums(np.array([0, 1]), 20)[:, CLICKS].tolist() == [2**24, 6]
    other = BucketRing(buckets=6, bucket_seconds=600)
    other.reserve(3)
    rows = np.array([0, 0, 2])
    other.add(rows, np.array([10, 10, 10]), IMPRESSIONS, np.array([0.1, 0.2, 0.3], np.float32))
    assert not other.whole_counts
    assert other.sums(rows, 10).tobytes() == _slot_order_sums(other, rows, 10).tobytes()


def test_the_running_window_takes_float32_amounts_as_the_mixed_dtype_add_did() -> None:
    """``_window`` (float64) is given float32 amounts cast to float64 first: numpy's fast
    ``add.at`` loop, the same sums to the bit as adding the float32 amounts (which numpy casts
    one by one), repeated rows, fractions and counts past 2**24 included."""
    rng = np.random.default_rng(3)
    ring = BucketRing(buckets=24, bucket_seconds=3600)
    ring.reserve(500)
    reference = np.zeros(500, np.float64)
    for step in range(20):
        rows = rng.integers(0, 500, 2_000)
        amounts = (rng.random(2_000) * 10 ** rng.integers(0, 9)).astype(np.float32)
        ring.add(rows, np.full(2_000, 3600 * 5 + step), CLICKS, amounts)
        np.add.at(reference, rows, amounts)  # float32 amounts into float64: numpy's mixed-dtype add
    np.testing.assert_array_equal(ring._window[:500, CLICKS], reference)
