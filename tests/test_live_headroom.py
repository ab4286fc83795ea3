"""The live state's per-row arrays grown aside (ranking/live/headroom.py): a grow built outside the
lock is swapped in only when no write came meanwhile, and no count is ever lost."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from ranking.live import headroom
from ranking.live.counters import BucketRing
from ranking.live.covisitation import CoVisitation
from ranking.live.embedded import EmbeddedLiveState
from ranking.live.history import IgnoredCards, Ring
from ranking.live.state import LiveState
from ranking.settings import LiveSettings

GROWERS = (BucketRing, CoVisitation, Ring, IgnoredCards)  # the parts with a row per product, store, shopper

T = 1_788_256_800_000


def clicks(start: int, n: int, products: int = 5_000, shoppers: int = 300, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed + start)
    return [{"request_id": start + i, "timestamp": T + (start + i) * 7_000,
             "user_id": int(rng.integers(shoppers)),
             "session_id": None if i % 5 else f"s{rng.integers(50)}",
             "product_id": int(rng.integers(products)), "position": 1, "store_id": int(rng.integers(40))}
            for i in range(n)]


def shown(start: int, n: int, products: int = 5_000, shoppers: int = 300) -> list[dict]:
    rows = clicks(start, n, products, shoppers, seed=1)
    for r in rows:
        r.pop("store_id")
    return rows


def per_row(part) -> dict[str, tuple[np.ndarray, int]]:
    """A grown part's per-row arrays and the axis of their rows."""
    if isinstance(part, BucketRing):
        return {"values": (part._values, 1), "gmv": (part._gmv, 0), "window": (part._window, 0)}
    if isinstance(part, Ring):
        return {"count": (part.count, 0), **{name: (a, 0) for name, a in part.cols.items()}}
    if isinstance(part, IgnoredCards):
        return {name: (getattr(part, name), 0) for name in ("item", "shown", "last")}
    return {name: (getattr(part, name), 0) for name in ("neighbour", "weight", "updated")}


def held(state: LiveState) -> dict[str, np.ndarray]:
    """Every value of the grown parts at the rows in use (and a ring's clock and totals), and the
    distinct values past them (which must read as never written): what two states holding the
    same rows share whatever their room."""
    out: dict[str, np.ndarray] = {}
    for kind, (used, parts) in headroom.parts(state).items():
        for k, part in enumerate(parts):
            if isinstance(part, BucketRing):
                out[f"{kind}{k}.clock"] = np.array([part.head, part.whole_counts, part.outside_window])
                out[f"{kind}{k}.stamp"], out[f"{kind}{k}.totals"] = part.stamp, part.totals
            for name, (array, axis) in per_row(part).items():
                assert array.shape[axis] == part.capacity, (kind, k, name)
                at = np.arange(part.capacity) < used
                out[f"{kind}{k}.{name}"] = np.compress(at, array, axis=axis)
                out[f"{kind}{k}.{name}.unused_distinct"] = np.unique(np.compress(~at, array, axis=axis))
    return out


def assert_same(a: LiveState, b: LiveState) -> None:
    ha, hb = held(a), held(b)
    assert ha.keys() == hb.keys()
    for key in ha:
        if key.endswith("unused_distinct"):  # never written: its fill (or nothing) in both
            assert len(ha[key]) <= 1 and len(hb[key]) <= 1 and (
                not len(ha[key]) or not len(hb[key]) or ha[key].tolist() == hb[key].tolist()), key
        else:
            assert ha[key].tobytes() == hb[key].tobytes() and ha[key].shape == hb[key].shape, key


def batches(n: int) -> list[tuple[str, list[dict]]]:
    return [("impressions" if k % 2 else "clicks", (shown if k % 2 else clicks)(k * 400, 400))
            for k in range(n)]


def test_the_room_doubles_once_the_rows_pass_the_share_and_fits_a_big_poll():
    assert headroom.room(used=70, incoming=5, capacity=100, share=0.75) == 100
    assert headroom.room(used=70, incoming=6, capacity=100, share=0.75) == 200
    assert headroom.room(used=70, incoming=500, capacity=100, share=0.75) == 760
    assert headroom.room(used=0, incoming=1, capacity=0, share=0.75) == 16
    assert headroom.room(used=100, incoming=0, capacity=100, share=1.0) == 100


def test_a_polls_new_rows_at_most_are_its_distinct_products_stores_users_and_sessions():
    from ranking.live.log_rows import column_tables, products_named
    from ranking.live.row_columns import RowColumns

    rows = {"clicks": [{**r, "session_id": None} for r in clicks(0, 50)], "impressions": shown(100, 80)}
    polled = {t: RowColumns() for t in rows}
    for t, rs in rows.items():
        polled[t].add_rows(rs)
    tables = column_tables(polled)
    assert tables["clicks"].schema.field("session_id").type == pa.null()  # no session named: counted 0
    named = products_named(tables)
    keys = ("user_id", "session_id", "store_id")
    distinct = {t: {k: {r[k] for r in rs if r.get(k) is not None} for k in keys} for t, rs in rows.items()}
    assert headroom.incoming(tables, named) == {
        "products": len({r["product_id"] for rs in rows.values() for r in rs}),
        "stores": len(distinct["clicks"]["store_id"]),
        "shoppers": sum(len(d["user_id"]) + len(d["session_id"]) for d in distinct.values())}


def test_a_grow_built_with_no_write_meanwhile_is_swapped_in_and_the_apply_copies_nothing(monkeypatch):
    grown, plain = LiveState(), LiveState()
    for table, rows in batches(4):
        grown.apply(table, rows)
        plain.apply(table, rows)
    growth = headroom.plan(grown, {"products": 2_000, "stores": 40, "shoppers": 400}, 0.75)
    assert growth is not None and {type(p).__name__ for p, _, _ in growth.targets} >= {
        "BucketRing", "CoVisitation", "Ring", "IgnoredCards"}
    before = {id(p): p.capacity for p, _, _ in growth.targets}
    headroom.build(growth)
    assert all(p.capacity == before[id(p)] for p, _, _ in growth.targets)  # built aside: the state unchanged
    assert_same(grown, plain)
    assert headroom.adopt(grown, growth) and growth.adopted
    assert all(p.capacity == size > before[id(p)] for p, _, size in growth.targets)
    assert_same(grown, plain)  # the copies hold every row

    def no_copy(self, size):
        raise AssertionError("the apply copied a part: the room built aside was not enough")

    for part in GROWERS:
        monkeypatch.setattr(part, "enlarged", no_copy)
    for table, rows in batches(6)[4:]:
        grown.apply(table, rows)
    monkeypatch.undo()
    for table, rows in batches(6)[4:]:
        plain.apply(table, rows)
    assert_same(grown, plain)


def test_a_grow_built_while_a_write_came_is_dropped_and_nothing_written_is_lost():
    grown, plain = LiveState(), LiveState()
    for table, rows in batches(2):
        grown.apply(table, rows)
        plain.apply(table, rows)
    growth = headroom.plan(grown, {"products": 5_000, "stores": 40, "shoppers": 400}, 0.75)
    assert growth is not None
    headroom.build(growth)
    for table, rows in batches(4)[2:]:  # written after the copies were taken
        grown.apply(table, rows)
        plain.apply(table, rows)
    assert not headroom.adopt(grown, growth) and not growth.adopted
    assert_same(grown, plain)
    stale = headroom.plan(grown, {"products": 5_000, "stores": 40, "shoppers": 400}, 0.75)
    assert stale is not None and headroom.adopt(grown, headroom.build(stale))


@pytest.mark.parametrize("seed", [0, 1])
def test_applies_running_beside_grows_keep_every_count(seed):
    """A writer applies batches under the lock while another thread plans, builds (sleeping in
    its pauses, so writes land mid-copy) and adopts, again and again; every count, ring and
    neighbour then equals a state applied alone. Every sixth batch the writer waits for one grow
    of the stores' rings made while it does not write, which must be swapped in."""
    live = EmbeddedLiveState(LiveSettings(), "/nonexistent-events")
    work = batches(24)
    done, want_quiet, quiet_done = threading.Event(), threading.Event(), threading.Event()
    outcomes: list[bool] = []
    quiet: list[bool] = []
    rng = np.random.default_rng(seed)

    def grow():
        while not done.is_set():
            calm = want_quiet.is_set()
            with live.lock:
                used = headroom.parts(live.state)
                if calm:  # the stores' room doubled (a few dozen rows)
                    n, stores = used["stores"]
                    coming = {"stores": stores[0].capacity - n + 1}
                else:
                    coming = {kind: int(rng.integers(1, 3 * max(n, 8))) for kind, (n, _) in used.items()}
                growth = headroom.plan(live.state, coming, 0.75)
            if growth is not None:
                # half the other builds sleep between parts: a write lands mid-build
                slow = not calm and rng.random() < 0.5
                headroom.build(growth, (lambda: time.sleep(0.002)) if slow else None)
                with live.lock:
                    outcomes.append(headroom.adopt(live.state, growth))
            if calm:
                quiet.append(growth is not None and growth.adopted)
                want_quiet.clear()
                quiet_done.set()

    grower = threading.Thread(target=grow)
    grower.start()
    try:
        for k, (table, rows) in enumerate(work):
            live.apply(table, rows)
            if k % 6 == 5:
                quiet_done.clear()
                want_quiet.set()
                assert quiet_done.wait(10)
            else:
                time.sleep(0.005)
    finally:
        done.set()
        grower.join()
    plain = LiveState()
    for table, rows in work:
        plain.apply(table, rows)
    assert quiet == [True] * 4  # a grow with no write beside it: swapped in
    assert False in outcomes  # and grows dropped beside the applies (a write mid-build)
    assert_same(live.state, plain)
    ids = np.arange(5_000)
    now = T + 24 * 400 * 7_000
    for name, values in plain.product_signals(ids, now).items():
        assert live.state.product_signals(ids, now)[name].tobytes() == values.tobytes(), name
    for user in range(300):
        a, b = live.state.shopper_view(user), plain.shopper_view(user)
        assert a.items.tolist() == b.items.tolist() and a.ignored.tolist() == b.ignored.tolist()


def test_the_tail_grows_aside_before_its_apply_and_applies_what_it_applied_before(tmp_path, monkeypatch):
    from ranking.event_log import EventLog

    log = EventLog(tmp_path, writer="w")
    live = EmbeddedLiveState(LiveSettings(), tmp_path)
    before = EmbeddedLiveState(LiveSettings(), tmp_path)  # the tail as it was: every grow under the lock
    copied_under_lock: list[str] = []

    def watched(original):
        def enlarged(self, size):
            if live.lock._is_owned():
                copied_under_lock.append(f"{type(self).__name__} {self.capacity} -> {size}")
            return original(self, size)
        return enlarged

    for table, rows in batches(12):
        log.append({table: rows})
        with monkeypatch.context() as m:
            for part in GROWERS:
                m.setattr(part, "enlarged", watched(part.enlarged))
            live.catch_up()
        assert not copied_under_lock, copied_under_lock
        with monkeypatch.context() as m:
            m.setattr(headroom, "plan", lambda *a: None)
            before.catch_up()
    assert live.headroom[True] >= 3 and not live.headroom[False] and not before.headroom
    assert_same(live.state, before.state)
    live.stop()
    before.stop()


def test_a_grow_that_fails_costs_the_poll_nothing(tmp_path, monkeypatch):
    from ranking.event_log import EventLog

    def broken(*a, **k):
        raise MemoryError("no room for the copies")

    log = EventLog(tmp_path, writer="w")
    live = EmbeddedLiveState(LiveSettings(), tmp_path)
    before = EmbeddedLiveState(LiveSettings(), tmp_path)
    for table, rows in batches(3):
        log.append({table: rows})
        with monkeypatch.context() as m:
            m.setattr(headroom, "build", broken)
            assert live.catch_up() == len(rows)
        with monkeypatch.context() as m:
            m.setattr(headroom, "plan", lambda *a: None)
            before.catch_up()
    assert not live.headroom
    assert_same(live.state, before.state)
    live.stop()
    before.stop()
