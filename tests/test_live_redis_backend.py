"""The Redis backend of the service on a real, private redis-server: one applier per host log (a
file lock), its positions in Redis (a new applier resumes without replaying; a flushed or
restarted server gets the whole log again), a failed apply keeps the rows and the positions,
reads fail fast while Redis is down, and the views are the embedded backend's."""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pytest

from ranking.event_log import EventLog
from ranking.live.embedded import EmbeddedLiveState
from ranking.live.errors import LiveBackendError
from ranking.settings import LiveSettings

redis = pytest.importorskip("redis")
from redis_server import RedisServer  # noqa: E402

from ranking.live.redis_backend import LOCK_FILE, LOG_ID_FILE, RedisLiveBackend  # noqa: E402

T0 = 1_788_256_800_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A redis-server of this module's own: the tests flush, fill and stop it."""
    import shutil

    from redis_server import MISSING

    if shutil.which("redis-server") is None:
        pytest.skip(MISSING)
    s = RedisServer(tmp_path_factory.mktemp("redis-backend")).start()
    yield s
    s.stop()


def click(i: int, user: int | None = 1, product: int | None = None, session: str | None = None) -> dict:
    return {"request_id": i, "timestamp": T0 + i * 1000, "user_id": user, "session_id": session,
            "product_id": product if product is not None else 100 + i, "position": 1}


def _backend(server, events, failures=None, **kw) -> RedisLiveBackend:
    settings = LiveSettings(redis_url=server.url, redis_prefix=kw.pop("prefix"), **kw)
    sink = failures if failures is not None else []
    return RedisLiveBackend(settings, events, on_failure=lambda reason, exc: sink.append(reason))


def _log_id(events) -> str:
    from ranking.live.redis_backend import log_id

    events.mkdir(parents=True, exist_ok=True)
    return log_id(events)


def _positions(server, prefix: str, events) -> dict:
    held = redis.Redis.from_url(server.url).get(f"{prefix}logpos:{_log_id(events)}")
    return json.loads(held) if held is not None else {}


def test_one_applier_stores_positions_and_the_next_resumes_without_replaying(server, tmp_path):
    prefix, events = f"t-{uuid.uuid4().hex[:8]}:", tmp_path / "events"
    log = EventLog(events, writer="w")
    log.append({"clicks": [click(1, product=7), click(2, product=8)]})
    first, second = _backend(server, events, prefix=prefix), _backend(server, events, prefix=prefix)
    try:
        assert first.catch_up() == 2 and first.applying and first.replays == 1
        assert second.catch_up() == 0 and not second.applying, "one applier per host log"
        assert second.shopper_view(1).items.tolist() == [8, 7], "every worker reads Redis"
        assert _positions(server, prefix, events) == {"clicks/w.jsonl": [
            (events / "clicks" / "w.jsonl").stat().st_ino, (events / "clicks" / "w.jsonl").stat().st_size]}
        assert (events / LOCK_FILE).exists() and len((events / LOG_ID_FILE).read_text().strip()) == 32
        first.stop()  # its lock is free now (kill -9 frees it the same way)
        log.append({"clicks": [click(3, product=9)]})
        assert second.catch_up() == 1, "the next applier reads only what was appended since"
        assert second.applying and second.replays == 0
        assert second.shopper_view(1).items.tolist() == [9, 8, 7], "nothing applied twice"
    finally:
        second.stop()


def test_a_flushed_redis_gets_the_whole_log_again(server, tmp_path):
    prefix, events = f"t-{uuid.uuid4().hex[:8]}:", tmp_path / "events"
    log = EventLog(events, writer="w")
    log.append({"clicks": [click(1, product=7)]})
    backend = _backend(server, events, prefix=prefix)
    try:
        assert backend.catch_up() == 1
        redis.Redis.from_url(server.url).flushall()
        log.append({"clicks": [click(2, product=8)]})
        assert backend.catch_up() == 2 and backend.replays == 2, "no positions: the log from its start"
        assert backend.shopper_view(1).items.tolist() == [8, 7]
    finally:
        backend.stop()
    restarted = _backend(server, events, prefix=prefix)
    try:
        assert restarted.catch_up() == 0 and restarted.replays == 0, "positions held: resumed"
    finally:
        restarted.stop()


def test_a_failed_apply_keeps_its_rows_and_the_positions_until_redis_takes_them(server, tmp_path):
    prefix, events = f"t-{uuid.uuid4().hex[:8]}:", tmp_path / "events"
    log, failures = EventLog(events, writer="w"), []
    log.append({"clicks": [click(1, product=7)]})
    backend = _backend(server, events, failures, prefix=prefix)
    admin = redis.Redis.from_url(server.url)
    try:
        backend.catch_up()
        before = _positions(server, prefix, events)
        admin.config_set("maxmemory", 1)  # full: every write is refused, reads still answer
        log.append({"clicks": [click(2, product=8), click(3, product=9)]})
        for _ in range(2):
            assert backend.catch_up() == 0
        assert failures == ["apply", "apply"] and backend.apply_failures == 2
        assert _positions(server, prefix, events) == before, "the positions did not move"
        assert backend.shopper_view(1).items.tolist() == [7]
        admin.config_set("maxmemory", 0)
        assert backend.catch_up() == 2 and backend.replays == 1, "the kept rows, once, without a replay"
        assert backend.shopper_view(1).items.tolist() == [9, 8, 7]
        assert _positions(server, prefix, events) != before
    finally:
        admin.config_set("maxmemory", 0)
        backend.stop()


def test_reads_fail_fast_while_redis_is_down_and_the_log_is_replayed_when_it_is_back(server, tmp_path):
    prefix, events = f"t-{uuid.uuid4().hex[:8]}:", tmp_path / "events"
    log, failures = EventLog(events, writer="w"), []
    log.append({"clicks": [click(1, product=7)]})
    backend = _backend(server, events, failures, prefix=prefix, redis_retry_ms=300)
    try:
        backend.catch_up()
        server.stop()
        with pytest.raises(LiveBackendError, match="failed"):
            backend.shopper_view(1)
        started = time.perf_counter()
        with pytest.raises(LiveBackendError, match="not asked"):
            backend.shopper_view(1)
        assert time.perf_counter() - started < 0.1  # loose: a loaded machine's pause is no failure
        log.append({"clicks": [click(2, product=8)]})  # acknowledged while Redis is down
        assert backend.catch_up() == 0 and failures == ["apply"]
        server.start()  # empty: no persistence
        time.sleep(0.3)
        assert backend.catch_up() == 2 and backend.replays == 2
        assert backend.shopper_view(1).items.tolist() == [8, 7], "nothing acknowledged was lost"
    finally:
        if server.process is None:
            server.start()
        backend.stop()


def test_redis_views_are_the_embedded_ones_with_leaves_and_one_showing_per_card(server, tmp_path):
    prefix, events = f"t-{uuid.uuid4().hex[:8]}:", tmp_path / "events"
    log = EventLog(events, writer="w")
    products, leaves = np.arange(50, 60), np.array([3, 3, 4, 4, 5, 5, 6, 6, 7, 7])
    exposure = {"request_id": 1, "timestamp": T0, "user_id": 9, "session_id": None, "surface": "homepage",
                "cards": {"product_id": [50, 51], "position": [1, 2]}}
    impression = {"request_id": 1, "timestamp": T0, "user_id": 9, "surface": "homepage", "query_id": None,
                  "product_id": 50, "position": 1, "variant": "v", "propensity": 1.0}
    log.append({"exposures": [exposure, {**exposure, "request_id": 2}], "impressions": [impression],
                "clicks": [click(5, user=9, product=52), click(6, user=None, product=54, session="s")]})
    log.append({"orders": [{"order_id": 1, "request_id": 7, "timestamp": T0 + 8000, "user_id": 9,
                            "session_id": "s", "product_id": 56, "store_id": 3, "price_paid": 10.0,
                            "quantity": 1, "cancelled": False}]})
    settings = LiveSettings(ignore_after_impressions=2)
    embedded = EmbeddedLiveState(settings, events)
    backend = _backend(server, events, prefix=prefix, ignore_after_impressions=2)
    for live in (embedded, backend):
        live.describe_catalog(products, leaves, np.array([6]))
        live.catch_up()
    try:
        a, b = embedded.shopper_view(9, at_ms=T0 + 9000), backend.shopper_view(9, at_ms=T0 + 9000)
        for name in ("items", "times_ms", "kinds", "leaves", "bought", "ignored", "ignored_shown", "exclude"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert b.leaves.tolist() == [6, 5, 4] and b.ignored_shown.tolist() == [2, 2], "one showing per card"
        assert b.exclude.tolist() == [50, 51], "a consumable leaf's product bought stays in"
        ids = np.array([50, 52, 56])
        for name, values in embedded.product_signals(ids, T0 + 9000).items():
            np.testing.assert_allclose(values, backend.product_signals(ids, T0 + 9000)[name], err_msg=name)
    finally:
        backend.stop()


def test_a_hung_redis_costs_one_read_the_timeout_then_reads_skip_it(server, tmp_path):
    import os
    import signal

    prefix, events = f"t-{uuid.uuid4().hex[:8]}:", tmp_path / "events"
    EventLog(events, writer="w").append({"clicks": [click(1, product=7)]})
    backend = _backend(server, events, prefix=prefix, redis_retry_ms=1500, redis_timeout_seconds=0.3)
    try:
        backend.catch_up()
        assert backend.shopper_view(1).items.tolist() == [7]
        os.kill(server.process.pid, signal.SIGSTOP)  # hung: connections open, no answer
        try:
            took = []
            for _ in range(20):
                started = time.perf_counter()
                with pytest.raises(LiveBackendError):
                    backend.shopper_view(1)
                took.append(time.perf_counter() - started)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        assert 0.25 < took[0] < 2.0, "the first read waits for the timeout"
        # asking would wait the 0.3 s timeout again; the bound leaves a loaded machine's pauses room
        assert max(took[1:]) < 0.1, f"the others do not ask: {took}"
        time.sleep(1.5)
        assert backend.shopper_view(1).items.tolist() == [7], "asked again after live.redis_retry_ms"
    finally:
        backend.stop()


def _exposure_pages(log: EventLog, pages: int, first: int = 0) -> None:
    log.append({"exposures": [{"request_id": first + i, "timestamp": T0 + (first + i) * 10, "user_id": i % 7,
                               "session_id": None, "surface": "homepage",
                               "cards": {"product_id": [(first + i + k) % 300 for k in range(20)],
                                         "position": list(range(1, 21))}} for i in range(pages)]})


def test_a_paced_apply_to_redis_is_the_same_apply(server, tmp_path):
    """The applier gives the GIL back between a poll's steps and every few dozen lines (as the
    embedded tail does): the same rows reach Redis, once, in the same order, and an idle poll
    does not pause. (Two logs of the same lines: one applier per host log.)"""
    pauses, logs = [], [EventLog(tmp_path / name, writer="w") for name in ("paced", "plain")]
    paced, plain = (_backend(server, tmp_path / name, prefix=f"t-{uuid.uuid4().hex[:8]}:")
                    for name in ("paced", "plain"))
    try:
        for first in (0, 200):
            for log in logs:
                _exposure_pages(log, 200, first)
            assert paced.catch_up(lambda: pauses.append(1)) == plain.catch_up() == 200 * 20
        assert len(pauses) >= 2 * (200 // 32), "a pause every 32 lines parsed, 640 rows, and between steps"
        before = len(pauses)
        assert paced.catch_up(lambda: pauses.append(1)) == 0 and len(pauses) == before, "idle: no pause"
        for user in range(7):
            a, b = paced.shopper_view(user, at_ms=T0 + 10_000), plain.shopper_view(user, at_ms=T0 + 10_000)
            for name in ("items", "ignored", "ignored_shown", "exclude"):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        ids = np.arange(300)
        for name, values in paced.product_signals(ids, T0 + 10_000).items():
            np.testing.assert_array_equal(values, plain.product_signals(ids, T0 + 10_000)[name], err_msg=name)
    finally:
        paced.stop()
        plain.stop()


def test_the_background_applier_is_paced(server, tmp_path, monkeypatch):
    import ranking.live.redis_backend as redis_backend

    pauses = []
    monkeypatch.setattr(redis_backend.Pacer, "__call__", lambda self: pauses.append(1))
    events = tmp_path / "events"
    backend = _backend(server, events, prefix=f"t-{uuid.uuid4().hex[:8]}:", poll_ms=10)
    backend.start()
    try:
        time.sleep(0.1)
        assert pauses == [], "nothing to apply: no pause"
        _exposure_pages(EventLog(events, writer="w"), 100)
        sent = time.perf_counter()
        while backend.state.applied["impressions"] < 100 * 20:
            assert time.perf_counter() - sent < 10.0, "not applied"
            time.sleep(0.005)
    finally:
        backend.stop()
    assert len(pauses) >= 4


def test_the_applier_rolls_the_window_totals_and_pages_only_read_them(server, tmp_path):
    from ranking.live.batch import to_live_seconds

    prefix, events = f"t-{uuid.uuid4().hex[:8]}:", tmp_path / "events"
    log = EventLog(events, writer="w")
    log.append({"clicks": [click(i, product=7 + i % 3) for i in range(12)]})
    applier, reader = _backend(server, events, prefix=prefix), _backend(server, events, prefix=prefix)
    try:
        assert not applier.state.reads_roll and not reader.state.reads_roll
        before = int(to_live_seconds(time.time() * 1000)) // 3600
        assert applier.catch_up() == 12
        after = int(to_live_seconds(time.time() * 1000)) // 3600
        marker = redis.Redis.from_url(server.url).hget(f"{prefix}pcw:d", "@")
        assert before <= int(marker) <= after, "rolled to the wall clock's bucket"
        ids = np.arange(5, 12)
        now_ms = int(time.time() * 1000)
        state = reader.state
        by_buckets, fell_back = state._sums, []
        state._sums = lambda *args: fell_back.append(args) or by_buckets(*args)
        try:  # the page's read and this one answered from the rolled totals, not the buckets
            got = reader.product_signals(ids, now_ms)
            now = int(to_live_seconds(state.now_ms(now_ms)))
            read = state._window_sums(["d"], ids, now)[0][0]
        finally:
            state._sums = by_buckets
        assert fell_back == []
        assert read.tolist() == state._sums("pc", "d", ids, now)[0].tolist()
        assert got["day_clicks"].tolist() == [0.0] * len(ids)  # T0's clicks are out of today's window
        assert reader.product_signals(ids, T0 + 20_000)["day_clicks"].tolist() == [0, 0, 4, 4, 4, 0, 0]
    finally:
        applier.stop()
        reader.stop()


def test_a_failed_roll_of_the_totals_is_no_apply_failure(server, tmp_path):
    prefix, events = f"t-{uuid.uuid4().hex[:8]}:", tmp_path / "events"
    EventLog(events, writer="w").append({"clicks": [click(1, product=7), click(2, product=8)]})
    failures: list[str] = []
    backend = _backend(server, events, failures, prefix=prefix)

    def fail(at_ms=None):
        raise LiveBackendError("Timeout reading (a long rebuild)")

    backend.state.roll_totals = fail
    try:
        assert backend.catch_up() == 2 and backend.apply_failures == 0 and failures == []
        assert backend.shopper_view(1).items.tolist() == [8, 7]
        ids = np.array([7, 8])
        assert backend.product_signals(ids, T0 + 5000)["day_clicks"].tolist() == [1, 1]  # the buckets
    finally:
        backend.stop()
