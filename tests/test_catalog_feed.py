"""The catalog change feeds (ranking/live/catalog_feed.py): this host's log in the order the service
received the rows, torn tails never read; and the Redis stream the host's applier feeds from its log
(at least once, harmless twice), read whole by every new worker, a failed read losing nothing."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from ranking.catalog_changes import BANS, PRODUCT_CHANGES
from ranking.event_log import EventLog
from ranking.live.catalog_feed import LogCatalogFeed, RedisCatalogFeed, push_catalog_rows
from ranking.live.catalog_state import CatalogState
from ranking.live.errors import LiveBackendError
from ranking.settings import LiveSettings


def _write(events: Path) -> None:
    # Two writers' lines are ordered by the millisecond each was received: changes two workers
    # receive in the same millisecond (concurrent requests) apply in table order, so the three
    # writes here are a few milliseconds apart (on a fast disk they used to share one and the
    # order under test was left to chance)
    first, second = EventLog(events, writer="a"), EventLog(events, writer="b")
    first.append({PRODUCT_CHANGES: [{"product_id": 1, "price": 5.0}]})
    time.sleep(0.003)
    second.append({BANS: [{"product_ids": [1], "store_ids": [], "reason": "x", "unban": False}]})
    time.sleep(0.003)
    first.append({PRODUCT_CHANGES: [{"product_id": 1, "price": 4.0, "banned": False}]})


def test_the_log_feed_gives_every_writers_rows_in_received_order(tmp_path: Path) -> None:
    events = tmp_path / "events"
    _write(events)
    feed = LogCatalogFeed(events)
    rows = feed.poll()
    assert [t for t, _ in rows] == [PRODUCT_CHANGES, BANS, PRODUCT_CHANGES]
    state = CatalogState()
    state.fold(rows)
    assert state.products[1] == {"product_id": 1, "price": 4.0, "banned": False}, "the last change wins"
    with open(events / PRODUCT_CHANGES / "a.jsonl", "ab") as f:
        f.write(b'{"product_id": 1, "price": 3.0')  # a line still being written
    assert feed.poll() == []
    with open(events / PRODUCT_CHANGES / "a.jsonl", "ab") as f:
        f.write(b', "_received_ms": 1}\n')
    assert [r["price"] for _, r in feed.poll()] == [3.0]
    feed.close()


def test_the_applier_pushes_the_logs_catalog_rows_and_every_worker_reads_them(tmp_path: Path, redis_url: str
                                                                              ) -> None:
    from ranking.live.redis_backend import RedisLiveBackend

    events = tmp_path / "events"
    _write(events)
    settings = LiveSettings(redis_url=redis_url, redis_prefix=f"feed-{uuid.uuid4().hex[:8]}:")
    applier = RedisLiveBackend(settings, events)
    reader = RedisLiveBackend(settings, events)
    try:
        applier.catch_up()
        assert applier.applying
        early = reader.catalog_feed()
        assert [t for t, _ in early.poll()] == [PRODUCT_CHANGES, BANS, PRODUCT_CHANGES]
        EventLog(events, writer="c").append({BANS: [{"product_ids": [1], "store_ids": [9], "reason": "y",
                                                      "unban": False}]})
        applier.catch_up()
        assert [r["store_ids"] for _, r in early.poll()] == [[9]], "only what is new since the last read"
        late = reader.catalog_feed()  # a worker starting now reads the stream whole
        whole = late.poll()
        assert len(whole) == 4
        again = CatalogState()
        again.fold(whole)
        push_catalog_rows(applier.state.redis, redis_url, settings.redis_prefix, whole, 0)  # delivered twice
        twice = CatalogState()
        twice.fold(whole)
        twice.fold(late.poll())
        assert twice.products == again.products and twice.banned_stores == again.banned_stores == {9: "y"}
    finally:
        applier.state.clear()
        applier.stop()
        reader.stop()


def test_a_failed_stream_read_reads_the_same_entries_again(redis_url: str) -> None:
    from service_process import free_port

    from ranking.live.redis_client import connect

    prefix = f"feed-{uuid.uuid4().hex[:8]}:"
    redis = connect(LiveSettings(redis_url=redis_url))
    push_catalog_rows(redis, redis_url, prefix, [(PRODUCT_CHANGES, {"product_id": 2, "stock": 0})], 0)
    feed = RedisCatalogFeed(redis, redis_url, prefix)
    feed.redis = connect(LiveSettings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))  # nobody listens there
    with pytest.raises(LiveBackendError):
        feed.poll()
    assert feed.last_id == "0-0"
    feed.redis = redis
    assert feed.poll() == [(PRODUCT_CHANGES, {"product_id": 2, "stock": 0})]
    redis.delete(f"{prefix}catalog")
