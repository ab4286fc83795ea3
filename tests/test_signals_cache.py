"""A worker's kept live counters on the Redis backend (ranking/live/signals_cache.py): kept per window
bucket until an applier names them changed or they grow too old, never kept from a read a drop
overtook; and on a real redis-server, a following reader's pages read exactly what Redis gives,
without asking it again, and see an applier's change once it is named."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from ranking.event_log import EventLog
from ranking.live.signals_cache import SignalsCache
from ranking.settings import LiveSettings

T0 = 1_788_256_800_000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _sums(*values: float) -> np.ndarray:
    return np.array([list(range(5))] * len(values), dtype=float) + np.array(values)[:, None]


def test_kept_per_bucket_until_dropped_or_too_old() -> None:
    clock = Clock()
    kept = SignalsCache(1.0, clock=clock)
    ids = np.array([7, 8])
    _, found, mall, gen = kept.get("h", 5, ids)
    assert not found.any() and mall is None
    kept.put("h", 5, ids, _sums(1, 2), np.arange(5.0), gen, clock())
    got, found, mall, _ = kept.get("h", 5, np.array([8, 9, 7]))
    assert found.tolist() == [True, False, True] and np.array_equal(got[[0, 2]], _sums(2, 1))
    assert not got[1].any() and np.array_equal(mall, np.arange(5.0))
    assert not kept.get("h", 6, ids)[1].any(), "another bucket is another window's span"
    assert not kept.get("d", 5, ids)[1].any()
    kept.forget([8])
    _, found, mall, _ = kept.get("h", 5, ids)
    assert found.tolist() == [True, False] and mall is None, "the mall's sums go with any change"
    clock.now += 1.5
    assert not kept.get("h", 5, ids)[1].any(), "never older than the maximum age"


def test_a_read_a_drop_overtook_is_not_kept_and_every_drops_all() -> None:
    clock = Clock()
    kept = SignalsCache(10.0, clock=clock)
    ids = np.array([1, 2])
    gen = kept.get("d", 3, ids)[3]
    kept.forget([99])  # an applier's change named while the page read Redis
    kept.put("d", 3, ids, _sums(1, 2), np.zeros(5), gen, clock())
    assert not kept.get("d", 3, ids)[1].any()
    gen = kept.get("d", 3, ids)[3]
    kept.put("d", 3, ids, _sums(1, 2), np.zeros(5), gen, clock())
    assert kept.get("d", 3, ids)[1].all()
    kept.forget((), every=True)
    assert not kept.get("d", 3, ids)[1].any()


def test_an_earlier_bucket_does_not_replace_a_later_one_and_a_full_window_starts_over() -> None:
    clock = Clock()
    kept = SignalsCache(10.0, max_products=3, clock=clock)
    gen = kept.get("h", 5, np.array([1]))[3]
    kept.put("h", 5, np.array([1, 2]), _sums(1, 2), np.zeros(5), gen, clock())
    kept.put("h", 4, np.array([3]), _sums(3), np.zeros(5), gen, clock())  # a page at an earlier time
    assert kept.get("h", 5, np.array([1, 2]))[1].all() and not kept.get("h", 4, np.array([3]))[1].any()
    kept.put("h", 5, np.array([3, 4]), _sums(3, 4), np.zeros(5), gen, clock())  # 4 > 3: starts over
    assert kept.get("h", 5, np.array([1, 2, 3, 4]))[1].tolist() == [False, False, True, True]
    kept.put("h", 6, np.array([1]), _sums(1), np.zeros(5), gen, clock())  # a later bucket: its own span
    assert not kept.get("h", 5, np.array([3]))[1].any() and kept.get("h", 6, np.array([1]))[1].all()


def test_any_product_id_is_kept_and_dropped_small_large_or_negative() -> None:
    """A window finds small ids in its by-id array and, once a large or negative id turns that off
    (ranking.live.catalog.IdRows), every id by lookup: the same sums kept and dropped either way,
    a page's repeated id included."""
    clock = Clock()
    kept = SignalsCache(10.0, clock=clock)
    small, odd = np.array([3, 70_000, 3]), np.array([10 ** 12, -5, 3])
    kept.put("h", 1, small, _sums(1, 2, 1), np.zeros(5), kept.generation, clock())
    assert kept._windows["h"].slot._by_id is not None  # the by-id array serves these
    got, found, _, _ = kept.get("h", 1, np.array([70_000, 3, 4, -5, 3_000_000]))
    assert found.tolist() == [True, True, False, False, False] and np.array_equal(got[:2], _sums(2, 1))
    kept.put("h", 1, odd, _sums(7, 8, 9), np.zeros(5), kept.generation, clock())
    assert kept._windows["h"].slot._by_id is None  # a huge or negative id: lookups from here on
    got, found, _, _ = kept.get("h", 1, np.array([-5, 10 ** 12, 70_000, 3]))
    assert found.all() and np.array_equal(got, _sums(8, 7, 2, 9))
    kept.forget([10 ** 12, 3])
    assert kept.get("h", 1, np.array([10 ** 12, -5, 70_000, 3]))[1].tolist() == [False, True, True, False]


def test_the_state_clock_is_kept_as_the_sums_are() -> None:
    clock = Clock()
    kept = SignalsCache(1.0, clock=clock)
    value, gen = kept.state_clock()
    assert value is None
    kept.put_state_clock(42, gen, clock())
    assert kept.state_clock()[0] == 42
    kept.forget([1])
    assert kept.state_clock()[0] is None
    stale = kept.state_clock()[1]
    kept.forget([2])
    kept.put_state_clock(43, stale, clock())
    assert kept.state_clock()[0] is None


redis = pytest.importorskip("redis")
from ranking.live.redis_backend import RedisLiveBackend  # noqa: E402
from ranking.live.redis_state import RedisLiveState  # noqa: E402


def _click(i: int, product: int, user: int = 1) -> dict:
    return {"request_id": i, "timestamp": T0 + i * 1000, "user_id": user, "session_id": None,
            "product_id": product, "position": 1}


def _signals_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _applier_and_reader(redis_url: str, tmp_path, clicks: list[dict], **kw
                        ) -> tuple[LiveSettings, EventLog, RedisLiveBackend, RedisLiveBackend]:
    """(settings, the host's log holding ``clicks``, its applier, a reader) on a prefix of their own."""
    settings = LiveSettings(redis_url=redis_url, redis_prefix=f"k-{uuid.uuid4().hex[:8]}:", **kw)
    log = EventLog(tmp_path / "events", writer="w")
    log.append({"clicks": clicks})
    events = tmp_path / "events"
    return settings, log, RedisLiveBackend(settings, events), RedisLiveBackend(settings, events)


def test_a_following_reader_reads_what_redis_gives_once_and_sees_a_named_change(redis_url, tmp_path,
                                                                                 monkeypatch) -> None:
    settings, log, applier, reader = _applier_and_reader(redis_url, tmp_path,
                                                         [_click(i, 10 + i % 4) for i in range(12)])
    fresh = RedisLiveState(settings)  # keeps nothing: what Redis gives now
    ids, at = np.array([10, 11, 12, 13, 99]), T0 + 20_000
    try:
        applier.catch_up()
        reader.follow_applied()  # listening: from now on it keeps what its pages read
        assert reader.state.signals is not None
        reader.state.signals.clock = Clock()  # the test's own time: a slow machine ages nothing
        first = reader.product_signals(ids, at)
        _signals_equal(first, fresh.product_signals(ids, at))
        asked = []
        monkeypatch.setattr(reader.state, "_read_sums", lambda *a: asked.append(a) or pytest.fail("asked"))
        monkeypatch.setattr(reader.state, "_clock", lambda: pytest.fail("asked the clock"))
        _signals_equal(reader.product_signals(ids, at), first)  # kept: no round trip
        _signals_equal(reader.product_signals(ids[1:3], at), fresh.product_signals(ids[1:3], at))
        monkeypatch.undo()
        log.append({"clicks": [_click(100 + i, 12) for i in range(5)]})
        applier.catch_up()
        reader.follow_applied()  # product 12 named changed: dropped
        read, asked = reader.state._read_sums, []
        monkeypatch.setattr(reader.state, "_read_sums",
                            lambda i, now: asked.append(i.tolist()) or read(i, now))
        after = reader.product_signals(ids, at)
        assert asked == [[12]]  # only what changed (with the mall's sums)
        _signals_equal(after, fresh.product_signals(ids, at))
        assert after["day_clicks"][2] == first["day_clicks"][2] + 5
    finally:
        applier.stop()
        reader.stop()
        fresh.close()


def test_without_the_stream_a_kept_counter_is_no_older_than_its_maximum_age(redis_url, tmp_path) -> None:
    _, log, applier, reader = _applier_and_reader(redis_url, tmp_path, [_click(1, 10)],
                                                  redis_signals_max_age_ms=150)
    ids, at, clock = np.array([10]), T0 + 20_000, Clock()
    try:
        applier.catch_up()
        reader.follow_applied()
        reader.state.signals.clock = clock  # the test's own time: a slow machine ages nothing
        before = reader.product_signals(ids, at)["day_clicks"].tolist()
        log.append({"clicks": [_click(2, 10), _click(3, 10)]})
        applier.catch_up()  # named in the stream, which this reader does not read (a lost entry)
        clock.now += 0.1
        assert reader.product_signals(ids, at)["day_clicks"].tolist() == before
        clock.now += 0.1
        assert reader.product_signals(ids, at)["day_clicks"].tolist() == [before[0] + 2]
    finally:
        applier.stop()
        reader.stop()


def test_a_backend_not_following_the_stream_keeps_nothing(redis_url, tmp_path) -> None:
    settings = LiveSettings(redis_url=redis_url, redis_prefix=f"k-{uuid.uuid4().hex[:8]}:")
    backend = RedisLiveBackend(settings, tmp_path / "events")
    off = RedisLiveBackend(settings.model_copy(update={"redis_signals_max_age_ms": 0}), tmp_path / "events")
    try:
        backend.product_signals(np.array([1]), T0)
        assert backend.state.signals is None  # a reader that never follows asks Redis every time
        off.follow_applied()
        assert off.state.signals is None and off._applied is None
    finally:
        backend.stop()
        off.stop()


def test_the_applier_drops_what_it_writes_and_a_replay_drops_everything(redis_url, tmp_path) -> None:
    _, log, applier, reader = _applier_and_reader(redis_url, tmp_path, [_click(1, 10)],
                                                  redis_applied_products_max=1)
    ids, at = np.array([10, 11]), T0 + 20_000
    try:
        applier.catch_up()
        applier.follow_applied()
        reader.follow_applied()
        applier.state.signals.clock = reader.state.signals.clock = Clock()
        first = applier.product_signals(ids, at)["day_clicks"].tolist()
        assert reader.product_signals(ids, at)["day_clicks"].tolist() == first
        log.append({"clicks": [_click(2, 10), _click(3, 11)]})
        applier.catch_up()  # its own write drops them before any stream is read
        assert applier.product_signals(ids, at)["day_clicks"].tolist() == [first[0] + 1, first[1] + 1]
        assert reader.product_signals(ids, at)["day_clicks"].tolist() == first  # not yet told
        reader.follow_applied()  # two products named, above the maximum of one: "every product"
        assert reader.product_signals(ids, at)["day_clicks"].tolist() == [first[0] + 1, first[1] + 1]
    finally:
        applier.stop()
        reader.stop()
