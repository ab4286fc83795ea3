"""The Redis backend tells every worker what a poll changed (ranking/live/applied_feed.py), on a real,
private redis-server: the host's applier names a poll's signed-in shoppers (and its products) in a
stream, each worker reads what was named since it started listening, and no shoppers are named
while nobody listens for them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from types import SimpleNamespace

import pytest

from ranking.event_log import EventLog
from ranking.settings import LiveSettings, load_settings

redis = pytest.importorskip("redis")

from ranking.live.applied_feed import APPLIED_STREAM, shoppers_touched  # noqa: E402
from ranking.live.redis_backend import RedisLiveBackend  # noqa: E402

T0 = 1_788_256_800_000


def _row(i: int, user: int | None, session: str | None = None) -> dict:
    return {"request_id": i, "timestamp": T0 + i * 1000, "user_id": user, "session_id": session,
            "product_id": 100 + i, "position": 1}


def _order(i: int, user: int) -> dict:
    return {"order_id": i, "request_id": i, "timestamp": T0 + i * 1000, "user_id": user, "session_id": None,
            "product_id": 100 + i, "store_id": 3, "price_paid": 10.0, "quantity": 1, "cancelled": False}


@contextmanager
def _paired(url: str, tmp_path, **kw) -> Iterator[tuple[RedisLiveBackend, RedisLiveBackend, str]]:
    """Two workers' backends on one private prefix (the applier, once it starts, and a reader),
    stopped at the end."""
    prefix = f"s-{uuid.uuid4().hex[:8]}:"
    settings = LiveSettings(redis_url=url, redis_prefix=prefix, **kw)
    events = tmp_path / "events"
    applier, reader = RedisLiveBackend(settings, events), RedisLiveBackend(settings, events)
    try:
        yield applier, reader, prefix
    finally:
        applier.stop()
        reader.stop()


def _told(applier: RedisLiveBackend, reader: RedisLiveBackend) -> list[list[int]]:
    """What the reader is told (the applier listens too, and is told nothing kept)."""
    told: list[list[int]] = []
    applier.on_shoppers, reader.on_shoppers = (lambda users: None), told.append
    return told


def test_every_worker_hears_the_shoppers_the_applier_applied(redis_url, tmp_path) -> None:
    with _paired(redis_url, tmp_path) as (applier, reader, _):
        told: dict[str, list[list[int]]] = {"applier": [], "reader": []}
        applier.on_shoppers, reader.on_shoppers = told["applier"].append, told["reader"].append
        assert applier.catch_up() == 0 and applier.applying and reader.catch_up() == 0 and not reader.applying
        assert reader.follow_applied() == 0 and applier.follow_applied() == 0  # listening from now
        EventLog(tmp_path / "events", writer="w").append({
            "clicks": [_row(1, 7), _row(2, 8), _row(3, 7), _row(4, None, "anon-1")],
            "carts": [{**_row(5, 9), "quantity": 1}],
            "impressions": [{**_row(6, 10), "surface": "homepage"}]})  # seen, not history
        assert applier.catch_up() > 0
        assert reader.follow_applied() == 3 and applier.follow_applied() == 3
        assert told == {"applier": [[7, 8, 9]], "reader": [[7, 8, 9]]}
        assert reader.follow_applied() == 0, "each named once"


def test_shoppers_named_before_a_worker_listens_are_not_told_to_it(redis_url, tmp_path) -> None:
    with _paired(redis_url, tmp_path, redis_signals_max_age_ms=0) as (applier, reader, _):  # shoppers only
        applier.on_shoppers, told = (lambda users: None), []
        log = EventLog(tmp_path / "events", writer="w")
        applier.catch_up()
        log.append({"clicks": [_row(1, 5)]})
        applier.catch_up()
        reader.on_shoppers = told.append
        assert reader.follow_applied() == 0  # starts at the stream's end
        log.append({"clicks": [_row(2, 6)]})
        applier.catch_up()
        assert reader.follow_applied() == 1 and told == [[6]]
        reader.on_shoppers = None
        assert reader.follow_applied() == 0 and reader._applied is None  # stopped listening


def test_no_shopper_is_named_while_nobody_listens_and_the_stream_is_trimmed(redis_url, tmp_path) -> None:
    with (_paired(redis_url, tmp_path, redis_applied_stream_max_len=10,
                  redis_signals_max_age_ms=0) as (applier, _, prefix),  # its products are named all the same
          closing(redis.Redis.from_url(redis_url)) as client):
        log = EventLog(tmp_path / "events", writer="w")
        applier.catch_up()
        log.append({"clicks": [_row(1, 5)]})
        applier.catch_up()
        (_, fields), = client.xrange(f"{prefix}{APPLIED_STREAM}")  # other hosts may keep counters
        assert fields == {b"users": b"", b"products": b"101"}
        applier.on_shoppers = lambda users: None
        for i in range(300):
            log.append({"clicks": [_row(10 + i, 1 + i)]})
            applier.catch_up()
        assert 10 <= client.xlen(f"{prefix}{APPLIED_STREAM}") <= 200  # about max_len (approximate trim)


def test_the_background_poll_tells_a_listening_worker(redis_url, tmp_path) -> None:
    with _paired(redis_url, tmp_path, poll_ms=20) as (applier, reader, _):
        told = _told(applier, reader)
        applier.start()
        reader.start()
        deadline = time.monotonic() + 15
        while (reader._applied is None or reader._applied.last_id is None) and time.monotonic() < deadline:
            time.sleep(0.01)  # listening from its first background poll on
        EventLog(tmp_path / "events", writer="w").append({"orders": [_order(1, 42)]})
        deadline = time.monotonic() + 15
        while not told and time.monotonic() < deadline:
            time.sleep(0.02)
        assert told == [[42]]


def test_a_bad_entry_is_read_once_and_skipped(redis_url, tmp_path) -> None:
    with _paired(redis_url, tmp_path) as (applier, reader, prefix):
        told = _told(applier, reader)
        applier.catch_up()
        assert reader.follow_applied() == 0
        with closing(redis.Redis.from_url(redis_url)) as client:
            client.xadd(f"{prefix}{APPLIED_STREAM}",  # ids no int64 holds are read as no id
                        {"users": f"7.5,x,11,{1 << 70}", "products": f"1,y,{1 << 64}"})
            client.xadd(f"{prefix}{APPLIED_STREAM}", {"other": "1"})
        EventLog(tmp_path / "events", writer="w").append({"clicks": [_row(1, 12)]})
        applier.catch_up()
        assert reader.follow_applied() == 2 and told == [[11, 12]]
        assert reader.follow_applied() == 0


def test_a_poll_names_no_more_shoppers_than_a_worker_keeps_waiting(redis_url, tmp_path) -> None:
    with _paired(redis_url, tmp_path) as (applier, reader, _):
        told = _told(applier, reader)
        applier.shoppers_max = 2
        applier.catch_up()
        reader.follow_applied()
        EventLog(tmp_path / "events", writer="w").append({"clicks": [_row(1, 5), _row(2, 6), _row(3, 7)]})
        applier.catch_up()
        assert reader.follow_applied() == 2 and told == [[6, 7]]  # the newest


def test_an_entry_names_only_int64_ids() -> None:
    from ranking.live.applied_feed import _ids

    assert _ids(f"1,-2,x,3.5,{(1 << 63) - 1},{1 << 63},{-(1 << 63)},{-(1 << 63) - 1}".encode()) == [
        1, -2, (1 << 63) - 1, -(1 << 63)]


def test_only_integer_user_ids_are_named() -> None:
    import pyarrow as pa

    tables = {"clicks": pa.table({"user_id": [1.0, 2.5, None]}), "carts": pa.table({"user_id": [3, None, 3]})}
    assert shoppers_touched(tables) == [3]


def test_the_service_wires_the_redis_backend_to_its_lists_ahead(redis_url, tmp_path) -> None:
    from serving.live import start_lists_ahead, stop_live

    with _paired(redis_url, tmp_path) as (backend, _, _):
        state = SimpleNamespace(settings=load_settings(["recall.homepage_lists_ahead_pending=77"]),
                                live=backend, router=None, lists_ahead=None)
        start_lists_ahead(state)
        ahead = state.lists_ahead
        assert ahead is not None and backend.on_shoppers == ahead.add and backend.shoppers_max == 77
        stop_live(state)
        assert backend.on_shoppers is None and state.lists_ahead is None and state.live is None
