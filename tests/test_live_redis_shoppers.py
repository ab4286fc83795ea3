"""The Redis backend tells every worker which shoppers a poll changed (ranking/live/shoppers_feed.py),
on a real, private redis-server: the host's applier names a poll's signed-in shoppers in a stream,
each worker reads what was named since it started listening, and nobody listening means nothing
is pushed."""

from __future__ import annotations

import shutil
import time
import uuid

import pytest

from ranking.event_log import EventLog
from ranking.settings import LiveSettings

redis = pytest.importorskip("redis")
from redis_server import MISSING, RedisServer  # noqa: E402

from ranking.live.redis_backend import RedisLiveBackend  # noqa: E402
from ranking.live.shoppers_feed import SHOPPERS_STREAM  # noqa: E402

T0 = 1_788_256_800_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if shutil.which("redis-server") is None:
        pytest.skip(MISSING)
    s = RedisServer(tmp_path_factory.mktemp("redis-shoppers")).start()
    yield s
    s.stop()


def _row(i: int, user: int | None, session: str | None = None) -> dict:
    return {"request_id": i, "timestamp": T0 + i * 1000, "user_id": user, "session_id": session,
            "product_id": 100 + i, "position": 1}


def _pair(server, tmp_path, **kw) -> tuple[RedisLiveBackend, RedisLiveBackend, str]:
    prefix = f"s-{uuid.uuid4().hex[:8]}:"
    settings = LiveSettings(redis_url=server.url, redis_prefix=prefix, **kw)
    events = tmp_path / "events"
    return RedisLiveBackend(settings, events), RedisLiveBackend(settings, events), prefix


def test_every_worker_hears_the_shoppers_the_applier_applied(server, tmp_path) -> None:
    applier, reader, _ = _pair(server, tmp_path)
    told: dict[str, list[list[int]]] = {"applier": [], "reader": []}
    applier.on_shoppers, reader.on_shoppers = told["applier"].append, told["reader"].append
    try:
        assert applier.catch_up() == 0 and applier.applying and reader.catch_up() == 0 and not reader.applying
        assert reader.tell_shoppers() == 0 and applier.tell_shoppers() == 0  # listening from now
        EventLog(tmp_path / "events", writer="w").append({
            "clicks": [_row(1, 7), _row(2, 8), _row(3, 7), _row(4, None, "anon-1")],
            "carts": [{**_row(5, 9), "quantity": 1}],
            "impressions": [{**_row(6, 10), "surface": "homepage"}]})  # seen, not history
        assert applier.catch_up() > 0
        assert reader.tell_shoppers() == 3 and applier.tell_shoppers() == 3
        assert told == {"applier": [[7, 8, 9]], "reader": [[7, 8, 9]]}
        assert reader.tell_shoppers() == 0, "each named once"
    finally:
        applier.stop()
        reader.stop()


def test_shoppers_named_before_a_worker_listens_are_not_told_to_it(server, tmp_path) -> None:
    applier, reader, _ = _pair(server, tmp_path)
    applier.on_shoppers, told = (lambda users: None), []
    log = EventLog(tmp_path / "events", writer="w")
    try:
        applier.catch_up()
        log.append({"clicks": [_row(1, 5)]})
        applier.catch_up()
        reader.on_shoppers = told.append
        assert reader.tell_shoppers() == 0  # starts at the stream's end
        log.append({"clicks": [_row(2, 6)]})
        applier.catch_up()
        assert reader.tell_shoppers() == 1 and told == [[6]]
        reader.on_shoppers = None
        assert reader.tell_shoppers() == 0 and reader._shoppers is None  # stopped listening
    finally:
        applier.stop()
        reader.stop()


def test_nothing_is_pushed_while_nobody_listens_and_the_stream_is_trimmed(server, tmp_path) -> None:
    applier, _, prefix = _pair(server, tmp_path, redis_shoppers_stream_max_len=10)
    client = redis.Redis.from_url(server.url)
    log = EventLog(tmp_path / "events", writer="w")
    try:
        applier.catch_up()
        log.append({"clicks": [_row(1, 5)]})
        applier.catch_up()
        assert not client.exists(f"{prefix}{SHOPPERS_STREAM}")
        applier.on_shoppers = lambda users: None
        for i in range(300):
            log.append({"clicks": [_row(10 + i, 1 + i)]})
            applier.catch_up()
        assert 10 <= client.xlen(f"{prefix}{SHOPPERS_STREAM}") < 300  # about max_len (approximate trim)
    finally:
        applier.stop()


def test_the_background_poll_tells_a_listening_worker(server, tmp_path) -> None:
    applier, reader, _ = _pair(server, tmp_path, poll_ms=20)
    told: list[list[int]] = []
    applier.on_shoppers, reader.on_shoppers = (lambda users: None), told.append
    try:
        applier.start()
        reader.start()
        time.sleep(0.2)  # both listening
        EventLog(tmp_path / "events", writer="w").append({"orders": [{**_row(1, 42), "quantity": 1,
                                                                      "price": 9.5}]})
        deadline = time.monotonic() + 5
        while not told and time.monotonic() < deadline:
            time.sleep(0.02)
        assert told == [[42]]
    finally:
        applier.stop()
        reader.stop()
