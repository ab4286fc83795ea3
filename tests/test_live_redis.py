"""The Redis live-state backend on a real, private redis-server: the same answers as the embedded
state on one mixed stream, bounded memory (caps, TTL on every key), the log-position marker that
says when to rebuild, one prefix per mall, and failing fast with LiveBackendError when the server
is stopped, full or unreachable, then recovering."""

from __future__ import annotations

import shutil
import time
import uuid

import numpy as np
import pytest

from ranking.live import LiveState
from ranking.live.redis_client import LiveBackendError
from ranking.settings import LiveSettings

redis = pytest.importorskip("redis")
from redis_server import MISSING, RedisServer  # noqa: E402

from ranking.live.redis_state import RedisLiveState  # noqa: E402

T = 1_700_000_000_000
MIN = 60_000
PRODUCTS = [{"product_id": p, "category_id": 100 + p % 3, "store_id": 7 + p % 4, "brand_id": p % 5}
            for p in range(1, 60)]
CATEGORIES = [{"category_id": 100, "consumable": True}, {"category_id": 101, "consumable": False}]


def _redis(url: str, **kw) -> RedisLiveState:
    settings = LiveSettings(redis_url=url, redis_prefix=f"t-{uuid.uuid4().hex[:10]}:", **kw)
    return RedisLiveState(settings)


def _stream(seed: int = 5) -> list[tuple[str, list[dict]]]:
    """Batches of a small mall's traffic: pages with and without queries, clicks, carts, orders
    (one cancelled in ten), anonymous sessions that sign in, over three hours."""
    rng = np.random.default_rng(seed)
    out, t = [], 0
    for request in range(120):
        t += int(rng.integers(10, 120)) * 1000
        user = int(rng.integers(1, 12))
        anonymous = rng.random() < 0.3
        who = {"user_id": None if anonymous else user, "session_id": f"sess-{user % 5}" if rng.random() < 0.5
               or anonymous else None}
        cards = rng.choice(np.arange(1, 60), 6, replace=False).tolist()
        query = int(rng.integers(1, 4)) if rng.random() < 0.4 else None
        out.append(("impressions", [{"request_id": request, "timestamp": T + t, **who, "surface": "search",
                                     "query_id": query, "product_id": p, "position": i + 1}
                                    for i, p in enumerate(cards)]))
        for table in ("clicks", "carts", "orders"):
            if rng.random() < {"clicks": 0.8, "carts": 0.3, "orders": 0.2}[table]:
                t += 5000
                row = {"request_id": request, "timestamp": T + t, **who, "product_id": cards[0],
                       "position": 1}
                if table == "orders":
                    row |= {"order_id": request, "store_id": 7 + cards[0] % 4, "price_paid": 3.5,
                            "quantity": 2, "cancelled": bool(rng.random() < 0.1)}
                out.append((table, [row]))
    return out


def _fill(state, **kw):
    state.apply("products", PRODUCTS)
    state.apply("categories", CATEGORIES)
    for table, rows in _stream(**kw):
        state.apply(table, rows)
    return state


def test_redis_gives_the_views_signals_and_neighbours_the_embedded_state_gives(redis_url) -> None:
    settings = {"covisit_neighbours": 60, "recent_interactions": 7, "ignored_items": 4}
    embedded = _fill(LiveState(LiveSettings(**settings)))
    shared = _fill(_redis(redis_url, **settings))
    assert shared.now_ms() == embedded.now_ms()
    fields = ("items", "times_ms", "kinds", "leaves", "stores", "brands", "queries", "query_times_ms",
              "bought", "exclude")
    known = 0
    for user, session in [(u, None) for u in range(1, 12)] + [(None, f"sess-{s}") for s in range(5)]:
        a, b = embedded.shopper_view(user, session), shared.shopper_view(user, session)
        assert a.known == b.known, (user, session)
        known += a.known
        for name in fields:
            assert getattr(a, name).tolist() == getattr(b, name).tolist(), (user, session, name)
        assert sorted(zip(a.ignored.tolist(), a.ignored_shown.tolist(), strict=True)) == sorted(
            zip(b.ignored.tolist(), b.ignored_shown.tolist(), strict=True))
    assert known > 8
    ids = np.arange(0, 62)
    for at in (None, T + 4 * 3600_000, T + 30 * 3600_000):  # now, an hour on, a day on
        sa, sb = embedded.product_signals(ids, at), shared.product_signals(ids, at)
        for name in sa:
            assert np.allclose(sa[name], sb[name], rtol=1e-5), (at, name)
    assert embedded.product_signals(ids)["day_clicks"].sum() > 50
    (na, wa), (nb, wb) = embedded.neighbours(ids), shared.neighbours(ids)
    for row in range(len(ids)):
        a = {n: w for n, w in zip(na[row].tolist(), wa[row].tolist(), strict=True) if n >= 0}
        b = {n: w for n, w in zip(nb[row].tolist(), wb[row].tolist(), strict=True) if n >= 0}
        assert a.keys() == b.keys() and np.allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-4)


def test_every_key_expires_and_every_per_shopper_and_per_item_structure_is_capped(redis_url) -> None:
    state = _fill(_redis(redis_url, recent_interactions=3, recent_queries=2, bought_items=2, ignored_items=4,
                         covisit_neighbours=3))
    r = state.redis
    keys = [k.decode() for k in r.scan_iter(match=state.prefix + "*")]
    assert len(keys) > 50
    assert all(r.ttl(k) > 0 for k in keys), [k for k in keys if r.ttl(k) <= 0]
    caps = {":it": (r.llen, 3), ":q": (r.llen, 2), ":b": (r.llen, 2), ":ig": (r.hlen, 4)}
    for key in keys:
        for suffix, (size, cap) in caps.items():
            if key.endswith(suffix):
                assert size(key) <= cap, key
        if key.startswith(state.prefix + "cv:"):
            assert r.zcard(key) <= 3, key
    assert max(r.llen(k) for k in keys if k.endswith(":it")) == 3  # the caps bite
    hour_bucket = next(k for k in keys if k.startswith(state.prefix + "pc:h:"))
    assert r.ttl(hour_bucket) <= 3600 + 600  # a counter bucket lives as long as its window


def test_the_marker_says_when_a_starting_service_must_rebuild_from_the_log(redis_url, tmp_path) -> None:
    from ranking.event_log import EventLog, read_event_log

    state = _redis(redis_url)
    assert state.needs_rebuild(T)  # nothing here yet
    log = EventLog(tmp_path, writer="w")
    logged = {"impressions": {"variant": "default", "propensity": 1.0}}
    for table, rows in _stream():  # the log's contract rows: signed-in shoppers, no session column
        kept = [{k: v for k, v in r.items() if k != "session_id"} | logged.get(table, {})
                for r in rows if r["user_id"] is not None]
        if kept:
            log.append({table: kept})
    log.close()
    tables = {name: t for name, t in read_event_log(tmp_path).tables.items() if t.num_rows}
    last = max(int(t.column("timestamp").cast("int64").to_numpy().max()) for t in tables.values())
    applied = state.replay(tables)
    assert applied == sum(t.num_rows for t in tables.values())
    position = state.log_position()
    assert position["clock_ms"] == last and position["clicks"] == tables["clicks"].num_rows > 10
    assert not state.needs_rebuild(last)
    assert not state.needs_rebuild(last + 999)  # the same second: the state keeps whole seconds
    assert state.needs_rebuild(last + 1000)  # the log holds events this state missed
    assert state.clear() > 0 and state.needs_rebuild(last)  # e.g. a redis restarted without persistence


def test_two_malls_share_one_server_without_seeing_each_other(redis_url) -> None:
    one, two = _redis(redis_url), _redis(redis_url)
    one.apply("clicks", [{"request_id": 1, "timestamp": T, "user_id": 1, "product_id": 5, "position": 1}])
    assert one.shopper_view(1).items.tolist() == [5]
    assert not two.shopper_view(1).known and two.now_ms() == 0
    assert two.product_signals(np.array([5]))["day_clicks"].tolist() == [0]


@pytest.fixture
def own_server(tmp_path):
    """A redis-server this test may stop and start (the shared one must stay up)."""
    if shutil.which("redis-server") is None:
        pytest.skip(MISSING)
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def _calls(state: RedisLiveState) -> dict:
    click = [{"request_id": 1, "timestamp": T, "user_id": 1, "product_id": 5, "position": 1}]
    return {"apply": lambda: state.apply("clicks", click), "view": lambda: state.shopper_view(1),
            "signals": lambda: state.product_signals(np.array([5])), "now": state.now_ms,
            "neighbours": lambda: state.neighbours(np.array([5])), "nbytes": state.nbytes}


def test_a_stopped_server_fails_every_call_fast_with_one_error_and_recovery_follows_its_return(
        own_server) -> None:
    state = _redis(own_server.url, redis_timeout_seconds=0.2, redis_connect_timeout_seconds=0.2)
    calls = _calls(state)
    for call in calls.values():
        call()
    assert state.shopper_view(1).items.tolist() == [5]
    own_server.stop()
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(LiveBackendError, match=r"live state backend redis://127\.0\.0\.1"):
            call()
        assert time.monotonic() - started < 1.0, name  # no hang: refused at once, or the timeout
    own_server.start()
    assert state.needs_rebuild(T)  # it came back empty (no persistence): the log must be replayed
    for call in calls.values():
        call()
    assert state.shopper_view(1).items.tolist() == [5]


def test_a_hung_server_times_out_within_the_setting(own_server) -> None:
    state = _redis(own_server.url, redis_timeout_seconds=0.3)
    state.now_ms()
    own_server.process.send_signal(19)  # SIGSTOP: the port accepts, nothing answers
    try:
        started = time.monotonic()
        with pytest.raises(LiveBackendError, match="Timeout"):
            state.shopper_view(1)
        assert 0.25 < time.monotonic() - started < 1.5
    finally:
        own_server.process.send_signal(18)  # SIGCONT
    assert not state.shopper_view(1).known


def test_a_full_server_refuses_writes_with_the_same_error(own_server) -> None:
    state = _redis(own_server.url)
    state.redis.config_set("maxmemory-policy", "noeviction")
    state.redis.config_set("maxmemory", 2 * 2**20)  # 2 MB: a deployment sets its own (docs/operations.md)
    with pytest.raises(LiveBackendError, match=r"OutOfMemory|OOM"):
        for lo in range(0, 200_000, 2_000):
            state.apply("clicks", [{"request_id": i, "timestamp": T + i, "user_id": i, "product_id": i % 997,
                                    "position": 1} for i in range(lo, lo + 2_000)])
    state.shopper_view(1)  # reads still answer


def test_live_recall_proposes_the_same_homepage_candidates_from_either_backend(redis_url) -> None:
    from ranking.live.recall import live_candidates

    embedded, shared = _fill(LiveState(LiveSettings())), _fill(_redis(redis_url))
    frozen, popular = np.arange(40, 20, -1), np.arange(1, 60)
    proposed = 0
    for user in range(1, 12):
        a = live_candidates(embedded, embedded.shopper_view(user), frozen, popular, k=20)
        b = live_candidates(shared, shared.shopper_view(user), frozen, popular, k=20)
        assert a.tolist() == b.tolist(), user
        proposed += len(a)
    assert proposed == 11 * 20
