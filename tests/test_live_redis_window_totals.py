"""The Redis live state's running window totals (``pcw:<h|d>``, ranking/live/redis_state.py) read
exactly what the bucket-by-bucket sums read, on random events: at bucket boundaries, with late
events, events ahead of the totals, a replay from scratch over the same buckets, a flushed
Redis, two readers rolling at once, buckets expired by their TTL (rebuilt, never subtracted),
buckets an older version wrote, and a request time ahead of the wall clock."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from ranking.live.batch import to_live_seconds
from ranking.settings import LiveSettings

redis = pytest.importorskip("redis")
from ranking.live.redis_state import RedisLiveState  # noqa: E402

T = 1_700_000_000_000  # 2023: every read here is behind the wall clock, so the totals are used
MIN = 60_000
IDS = np.arange(0, 42)
KINDS = ("clicks", "carts", "orders")


def _state(url: str, prefix: str | None = None) -> RedisLiveState:
    return RedisLiveState(LiveSettings(redis_url=url, redis_prefix=prefix or f"w-{uuid.uuid4().hex[:10]}:"))


def _rows(table: str, times: list[int], rng: np.random.Generator) -> list[dict]:
    rows = []
    for i, t in enumerate(times):
        product = int(rng.integers(1, 40))
        row = {"request_id": int(rng.integers(0, 10**9)), "timestamp": int(t),
               "user_id": int(rng.integers(1, 30)), "product_id": product, "position": i + 1}
        if table == "impressions":
            row |= {"surface": "search", "query_id": None}
        if table == "orders":  # prices with many digits, so the order of the float sums matters
            row |= {"order_id": int(rng.integers(0, 10**9)), "store_id": 7 + product % 4,
                    "price_paid": float(rng.random() * 97.3), "quantity": int(rng.integers(1, 4)),
                    "cancelled": bool(rng.random() < 0.1)}
        rows.append(row)
    return rows


def _batches(rng: np.random.Generator, start: int, hours: float, n: int) -> list[tuple[str, list[dict]]]:
    """n batches moving forward over ``hours``; some rows late (up to two days back: some inside
    the day window, some older than it), some exactly on a bucket boundary or a second before."""
    out, t = [], start
    for _ in range(n):
        t += int(rng.integers(0, int(hours * 3600_000 / n * 2)))
        table = "impressions" if rng.random() < 0.5 else KINDS[int(rng.integers(0, 3))]
        size = int(rng.integers(1, 12))
        times = t - rng.integers(0, 20 * MIN, size)
        late = rng.random(size) < 0.15
        times[late] = t - rng.integers(0, 48 * 60 * MIN, int(late.sum()))
        edge = rng.random(size) < 0.15
        times[edge] = (times[edge] // (10 * MIN)) * 10 * MIN - rng.integers(0, 2, int(edge.sum())) * 1000
        out.append((table, _rows(table, np.sort(times).tolist(), rng)))
    return out


def _same(state: RedisLiveState, at_ms: int | None = None, rolled: bool = True) -> int:
    """The totals' read equals the bucket-by-bucket read, to the bit, for both windows; and the
    totals were read (``rolled``), not the bucket path they fall back to. Returns how many
    windows fell back to the bucket path."""
    now = int(to_live_seconds(state.now_ms(at_ms)))
    by_buckets, fell_back = state._sums, []
    state._sums = lambda *args: fell_back.append(args) or by_buckets(*args)
    try:
        got = state._window_sums(["h", "d"], IDS, now)
    finally:
        state._sums = by_buckets
    for window, (ids_sums, mall) in zip(("h", "d"), got, strict=True):
        want_ids, want_mall = state._sums("pc", window, IDS, now)
        assert np.array_equal(ids_sums, want_ids), (window, np.argwhere(ids_sums != want_ids)[:5])
        assert np.array_equal(mall, want_mall), window
        if rolled:
            marker = state.redis.hget(state._key("pcw", window), "@")
            assert int(marker) == now // state.windows[window][1], window
    assert not (rolled and fell_back)
    return len(fell_back)


def _signals_by_buckets(state: RedisLiveState, at_ms: int | None) -> dict[str, np.ndarray]:
    """product_signals as before the totals: every window read bucket by bucket."""
    totals = state._window_sums
    state._window_sums = lambda windows, ids, now: [state._sums("pc", w, ids, now) for w in windows]
    try:
        return state.product_signals(IDS, at_ms)
    finally:
        state._window_sums = totals


def test_the_totals_are_the_bucket_sums_after_every_batch(redis_url) -> None:
    rng = np.random.default_rng(11)
    state = _state(redis_url)
    gmv_read = 0
    for i, (table, rows) in enumerate(_batches(rng, T, 40, 400)):
        state.apply(table, rows)
        if i % 3 == 0:
            _same(state)
        if i % 25 == 0:
            got, want = state.product_signals(IDS), _signals_by_buckets(state, None)
            assert got.keys() == want.keys()
            for name in got:
                assert np.array_equal(got[name], want[name]), (i, name)
            gmv_read += int((got["day_gmv"] > 0).sum())
    assert gmv_read > 20  # the GMV path was exercised
    held = state.redis.hgetall(state._key("pcw", "d"))
    assert sum(k.endswith(b":c") for k in held) > 10  # the totals hold clicks of many products


def test_reads_at_bucket_boundaries_and_events_ahead_of_the_totals(redis_url) -> None:
    rng = np.random.default_rng(3)
    state = _state(redis_url)
    start = T - T % (3600_000) + 3600_000  # on an hour (and a 10-minute) boundary
    state.apply("clicks", _rows("clicks", [start - 1000, start], rng))
    for at in (start - 1000, start, start + 599_000, start + 600_000):
        _same(state, at)
    # events ahead of the totals' bucket: written to their buckets only, added when a read rolls on
    ahead = [start + k * 600_000 + 1 for k in range(1, 9)]
    state.apply("orders", _rows("orders", ahead, rng))
    state.apply("impressions", _rows("impressions", ahead, rng))
    for at in (ahead[0], ahead[3] - 2, ahead[-1], ahead[-1] + 3 * 3600_000, ahead[-1] + 23 * 3600_000):
        _same(state, at)
    # a reader behind the totals (another rolled them on) reads bucket by bucket, the same sums
    _same(state, None, rolled=False)


def test_a_replay_over_the_same_buckets_and_a_flushed_redis(redis_url) -> None:
    rng = np.random.default_rng(5)
    state = _state(redis_url)
    batches = _batches(rng, T, 30, 150)
    for table, rows in batches:
        state.apply(table, rows)
    _same(state)
    for table, rows in batches:  # positions lost: the whole log again, on top (counts doubled)
        state.apply(table, rows)
        _same(state)
    assert state.product_signals(IDS)["day_clicks"].sum() > 0
    state.clear()  # flushed: totals and buckets gone
    _same(state, T + 30 * 3600_000)
    assert state.product_signals(IDS, T + 30 * 3600_000)["day_clicks"].sum() == 0
    for table, rows in batches[:80]:  # the log again into the empty Redis, behind the totals' bucket
        state.apply(table, rows)
        _same(state, None, rolled=False)
    state.redis.delete(state._key("pcw", "h"), state._key("pcw", "d"))  # the totals lost (expired)
    _same(state)


def test_two_readers_rolling_at_once_give_the_bucket_sums(redis_url) -> None:
    rng = np.random.default_rng(8)
    prefix = f"w-{uuid.uuid4().hex[:10]}:"
    writer, readers = _state(redis_url, prefix), [_state(redis_url, prefix) for _ in range(2)]
    failures: list[str] = []

    def read(reader: RedisLiveState, barrier: threading.Barrier, step: int) -> None:
        barrier.wait()
        try:
            _same(reader)  # one of the two rolls the totals on, the other finds them rolled
        except AssertionError as exc:
            failures.append(f"{step}: {exc}")

    for step, (table, rows) in enumerate(_batches(rng, T, 40, 120)):
        writer.apply(table, rows)
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=read, args=(r, barrier, step)) for r in readers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    _same(readers[0])


def _expire(state: RedisLiveState, window: str, buckets: list[int]) -> None:
    """Let bucket keys expire by their TTL (made 1 ms), as after a long idle gap."""
    for b in buckets:
        state.redis.pexpire(state._key("pc", window, b), 1)
    time.sleep(0.02)
    for b in buckets:
        assert not state.redis.exists(state._key("pc", window, b))


def _applied(redis_url: str, seed: int, hours: float,
             batches: int) -> tuple[np.random.Generator, RedisLiveState]:
    """A fresh state with ``batches`` random batches over ``hours`` from ``T`` applied (and the rng)."""
    rng = np.random.default_rng(seed)
    state = _state(redis_url)
    for table, rows in _batches(rng, T, hours, batches):
        state.apply(table, rows)
    return rng, state


def _written_buckets(state: RedisLiveState, window: str, clock: int) -> list[int]:
    """The window's buckets (as of live second ``clock``) that Redis holds, oldest first."""
    n, width = state.windows[window]
    current = clock // width
    return [b for b in range(current - n + 1, current + 1) if state.redis.exists(state._key("pc", window, b))]


def test_buckets_expired_in_an_idle_gap_are_rebuilt_from_not_subtracted(redis_url) -> None:
    rng, state = _applied(redis_url, 9, 26, 200)
    _same(state)
    clock = int(to_live_seconds(state.now_ms()))
    _expire(state, "h", [clock // state.windows["h"][1]])  # the totals' own bucket: rebuilt at once
    _same(state)
    width = state.windows["d"][1]
    held = _written_buckets(state, "d", clock)
    assert len(held) > 10
    _expire(state, "d", held[:3])  # the oldest, which a roll would subtract
    at_ms = int(state.now_ms()) + 2 * 3600_000
    _same(state, at_ms)  # rolled two hours on: rebuilt, not subtracted
    _expire(state, "d", [held[-2]])  # one inside the window, the totals at the same bucket
    _same(state, at_ms)
    # a bucket that expired and is written again by a late event: the writer voids the totals
    _expire(state, "d", [held[-1]])
    state.apply("clicks", _rows("clicks", [_epoch_ms(held[-1] * width + 5)], rng))
    assert state.redis.hget(state._key("pcw", "d"), "@") is None
    _same(state, at_ms)


def _epoch_ms(live_seconds: int) -> int:
    from ranking.live.batch import to_epoch_ms

    return int(to_epoch_ms(np.int64(live_seconds)))


def test_buckets_an_older_version_wrote_are_read_and_their_expiry_seen(redis_url) -> None:
    rng, state = _applied(redis_url, 12, 26, 120)
    keys = [k for k in state.redis.scan_iter(match=state._key("pc", "*"))]
    for key in keys:  # as the version before the totals left them: no write stamp, no totals
        state.redis.hdel(key, "#")
    state.redis.delete(state._key("pcw", "h"), state._key("pcw", "d"))
    _same(state)
    held = _written_buckets(state, "d", int(to_live_seconds(state.now_ms())))
    _expire(state, "d", [held[len(held) // 2]])
    _same(state)
    for table, rows in _batches(rng, T + 26 * 3600_000, 3, 30):  # new writes into old buckets
        state.apply(table, rows)
        _same(state)


def test_a_request_time_ahead_of_the_wall_clock_does_not_move_the_totals(redis_url) -> None:
    rng = np.random.default_rng(2)
    state = _state(redis_url)
    state.apply("clicks", _rows("clicks", [T, T + 1000], rng))
    state.product_signals(IDS)
    marker = state.redis.hget(state._key("pcw", "d"), "@")
    future = int(time.time() * 1000) + 3 * 3600_000
    got, want = state.product_signals(IDS, future), _signals_by_buckets(state, future)
    for name in got:
        assert np.array_equal(got[name], want[name]), name
    assert state.redis.hget(state._key("pcw", "d"), "@") == marker


def test_every_totals_key_expires(redis_url) -> None:
    _, state = _applied(redis_url, 4, 3, 30)
    _same(state)
    for window in ("h", "d"):
        n, width = state.windows[window]
        assert 0 < state.redis.ttl(state._key("pcw", window)) <= (n + 1) * width


def test_gmv_is_added_bucket_by_bucket_in_the_buckets_order(redis_url) -> None:
    """Orders of three products over a day: their GMV sums depend on the order of the additions
    (checked here: float32 amounts far apart in size, whose sums a double does not hold exactly),
    and the totals' read adds them in the buckets' order, as the bucket path does."""
    rng = np.random.default_rng(21)
    state = _state(redis_url)
    for hour in range(22):
        rows = _rows("orders", sorted(T + hour * 3600_000 + rng.integers(0, 3600_000, 6)), rng)
        for row in rows:
            row |= {"product_id": 1 + row["product_id"] % 3, "cancelled": False,  # float32 amounts
                    "price_paid": float(rng.random() * (1e6 if rng.random() < 0.5 else 1e-3))}
        state.apply("orders", rows)
    _same(state)
    now = int(to_live_seconds(state.now_ms()))
    n, width = state.windows["d"]
    fields = ["1:g", "2:g", "3:g"]
    per_bucket = np.array([[float(v or 0) for v in state.redis.hmget(state._key("pc", "d", b), fields)]
                           for b in range(now // width - n + 1, now // width + 1)])
    forward, backward = np.zeros(3), np.zeros(3)
    for row in per_bucket:
        forward += row
    for row in per_bucket[::-1]:
        backward += row
    assert not np.array_equal(forward, backward)  # the order matters on these prices
    assert np.array_equal(state.product_signals(IDS)["day_gmv"][1:4], forward)


def test_a_bucket_expired_and_written_again_to_its_old_write_count_is_not_misread(redis_url) -> None:
    """One write, read into the totals, expired, then one late write again: the bucket's stamp is
    the same as before, so the writer (which sees the bucket gone) voids the totals' marker."""
    rng = np.random.default_rng(6)
    state = _state(redis_url)
    state.apply("clicks", _rows("clicks", [T - 2 * 3600_000], rng))
    state.apply("clicks", _rows("clicks", [T], rng))
    _same(state)
    b = int(to_live_seconds(T - 2 * 3600_000)) // state.windows["d"][1]
    assert state.redis.hget(state._key("pcw", "d"), f"#{b}") == b"1"
    _expire(state, "d", [b])
    state.apply("carts", _rows("carts", [T - 2 * 3600_000 + 1000], rng))
    assert state.redis.hget(state._key("pc", "d", b), "#") == b"1"
    _same(state)


def test_reads_that_may_not_roll_read_the_totals_only_when_current_and_the_applier_rolls_them(
        redis_url) -> None:
    """The service's pages (``reads_roll`` off) never roll or rebuild: they read the totals when
    they are at the page's bucket and agree with every bucket, else the buckets (the same sums);
    ``roll_totals`` (the applier, after each poll) moves them on."""
    rng = np.random.default_rng(14)
    state = _state(redis_url)
    state.reads_roll = False
    batches = _batches(rng, T, 6, 60)
    for table, rows in batches[:30]:
        state.apply(table, rows)
    assert _same(state, rolled=False) == 2 and state.redis.hget(state._key("pcw", "d"), "@") is None
    state.roll_totals()
    behind_seen = 0
    assert _same(state) == 0  # current: read without rolling
    for table, rows in batches[30:]:
        state.apply(table, rows)
        clock = int(to_live_seconds(state.now_ms()))
        markers = [int(state.redis.hget(state._key("pcw", w), "@")) for w in ("h", "d")]
        behind = sum(clock // state.windows[w][1] != m for w, m in zip(("h", "d"), markers, strict=True))
        assert _same(state, rolled=False) == behind
        behind_seen += behind
        assert [int(state.redis.hget(state._key("pcw", w), "@")) for w in ("h", "d")] == markers  # not rolled
        state.roll_totals()
        assert _same(state) == 0
    assert behind_seen > 3  # pages found the totals behind, at bucket boundaries
    _expire(state, "d", [int(to_live_seconds(state.now_ms())) // 3600])
    assert _same(state, rolled=False) == 1  # disagrees with a bucket: the buckets, no rebuild
    state.roll_totals()
    assert _same(state) == 0


def test_the_appliers_roll_reads_nothing_back(redis_url) -> None:
    """``roll_totals``' call (mode 2) answers 1 a window once rolled (no mall totals, no GMV
    bucket by bucket), 0 for a window whose totals are ahead, and leaves what a read (mode 1) of
    the same moment would have left."""
    rng = np.random.default_rng(15)
    rolled_only, read_too = _state(redis_url), _state(redis_url)
    for table, rows in _batches(rng, T, 6, 40):
        for state in (rolled_only, read_too):
            state.apply(table, rows)
    now = int(to_live_seconds(rolled_only.now_ms()))
    none = np.zeros(0, np.int64)
    assert rolled_only._totals(keys=[], args=rolled_only._totals_args(["h", "d"], none, now, 2)) == [1, 1]
    read = read_too._totals(keys=[], args=read_too._totals_args(["h", "d"], none, now, 1))
    assert all(isinstance(r, list) and len(r) == 2 for r in read)  # a read answers its sums
    for window in ("h", "d"):
        assert rolled_only.redis.hgetall(rolled_only._key("pcw", window)) == \
            read_too.redis.hgetall(read_too._key("pcw", window))
    assert rolled_only._totals(keys=[], args=rolled_only._totals_args(["h"], none, now - 7200, 2)) == [0]
    assert _same(rolled_only, rolled=True) == 0
