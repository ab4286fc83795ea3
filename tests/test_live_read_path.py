"""The live read path made cheaper per request (issue 25) gives exactly what it gave before.

Each optimised piece is checked against a straightforward reference kept here: the code as it
was before (``shopper_view``'s exclusions, ``product_signals`` summing each window per
signal, the live features' clipped lookups, a logged Arrow table's columns read through
Python lists), on a random mixed stream (sessions signing in, searches, clicks, carts,
orders of consumable and durable leaves, cancellations, pages shown again and again).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ranking.live import LiveState
from ranking.live import features as live_features
from ranking.live.batch import event_batch, replay_chunks, to_live_seconds
from ranking.live.counters import CLICKS, GMV, IMPRESSIONS, ORDERS
from ranking.settings import LiveSettings

T0 = 1_788_256_800_000
PRODUCTS = np.arange(1_000, 1_300)


# ---- references: the pre-change code, kept verbatim in substance ---------------------------
def reference_exclude(state: LiveState, user: int | None, session: str | None, now_ms: int) -> np.ndarray:
    row = state.shoppers.find(user, session)
    h, cat, pid = state.history, state.catalog, state.catalog.products.ids
    b = h.bought.read(row)
    ignored, shown = h.ignored.read(row, int(to_live_seconds(now_ms)))
    final = ~np.isin(cat.leaf[b["item"]], cat.consumable_leaves)
    tired = shown >= state.settings.ignore_after_impressions
    return np.unique(np.r_[pid[b["item"][final]], pid[ignored[tired]]])


def reference_signals(state: LiveState, product_ids: np.ndarray, at_ms: int) -> dict[str, np.ndarray]:
    rows = np.array([state.catalog.products._rows.get(int(i), -1) for i in product_ids], np.int32)
    now = int(to_live_seconds(state.now_ms(at_ms)))
    p = state.products
    hour, day = p.hour.sums(rows, now), p.day.sums(rows, now)
    mall = p.day.total(now)
    prior = mall[CLICKS] / mall[IMPRESSIONS] if mall[IMPRESSIONS] > 0 else 0.0
    k = p.ctr_prior_impressions
    ctr = (day[:, CLICKS] + k * prior) / np.maximum(day[:, IMPRESSIONS] + k, 1e-9)
    act = slice(CLICKS, ORDERS + 1)
    trend = ((hour[:, act].sum(axis=1) + p.trend_prior)
             / (day[:, act].sum(axis=1) * (p.hour.seconds / p.day.seconds) + p.trend_prior))
    return {"hour_impressions": hour[:, IMPRESSIONS], "hour_clicks": hour[:, CLICKS],
            "day_clicks": day[:, CLICKS], "day_orders": day[:, ORDERS], "day_gmv": day[:, GMV],
            "day_impressions": day[:, IMPRESSIONS], "ctr": ctr, "trend": trend}


def reference_columns(view, signals, ids, leaves, item_leaves, now_ms, s: LiveSettings) -> dict:
    """live_feature_columns with the lookups as they were (np.clip of searchsorted)."""
    def lookup(uniq: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.clip(np.searchsorted(uniq, keys), 0, len(uniq) - 1)
        return at, uniq[at] == keys

    n = len(ids)
    out = {name: np.full(n, np.nan, np.float32) for name in live_features.LIVE_COLUMNS}
    if view is not None and view.known:
        age = np.maximum(now_ms - view.times_ms, 0).astype(np.float64)
        recent = item_leaves[(age <= s.intent_window_minutes * 60_000) & (item_leaves >= 0)]
        aff = np.zeros(n, np.float32)
        if len(recent):
            uniq, counts = np.unique(recent, return_counts=True)
            at, hit = lookup(uniq, leaves)
            aff[hit] = (counts[at[hit]] / len(recent)).astype(np.float32)
        aff[leaves < 0] = np.nan
        interest = np.zeros(n, np.float32)
        if len(view.items):
            kw = np.asarray(s.feature_kind_weights, np.float64)
            half_life = s.feature_half_life_minutes * 60_000
            w = kw[np.clip(view.kinds, 0, len(kw) - 1)] * np.power(0.5, age / half_life)
            uniq, inverse = np.unique(view.items, return_inverse=True)
            per = np.bincount(inverse.ravel(), weights=w, minlength=len(uniq))
            at, hit = lookup(uniq, ids)
            interest[hit] = per[at[hit]].astype(np.float32)
        minutes = np.full(n, np.nan, np.float32)
        held = item_leaves >= 0
        if held.any():
            leaf, a = item_leaves[held], age[held]
            order = np.lexsort((a, leaf))
            uniq, first = np.unique(leaf[order], return_index=True)
            at, hit = lookup(uniq, leaves)
            hit &= leaves >= 0
            minutes[hit] = (a[order][first][at[hit]] / 60_000.0).astype(np.float32)
        ignored = np.zeros(n, np.float32)
        if len(view.ignored):
            order = np.argsort(view.ignored, kind="stable")
            at, hit = lookup(np.asarray(view.ignored, np.int64)[order], ids)
            ignored[hit] = np.asarray(view.ignored_shown)[order][at[hit]].astype(np.float32)
        out.update(session_leaf_affinity=aff, recent_item_interest=interest, minutes_since_leaf_touch=minutes,
                   ignored_impressions=ignored)
    if signals is not None and n:
        out["live_ctr"] = np.asarray(signals["ctr"], np.float32)
        out["live_trend"] = np.asarray(signals["trend"], np.float32)
        out["live_hour_clicks"] = np.log1p(np.asarray(signals["hour_clicks"], np.float32))
    return out


# ---- a random mixed stream -------------------------------------------------------------
def _stream(seed: int, settings: LiveSettings | None = None
            ) -> tuple[LiveState, list[tuple[int | None, str | None]], int]:
    rng = np.random.default_rng(seed)
    state = LiveState(settings or LiveSettings(ignore_after_impressions=2, recent_interactions=12))
    state.apply("products", [{"product_id": int(p), "category_id": int(p % 7), "store_id": int(p % 5),
                              "brand_id": int(p % 3)} for p in PRODUCTS])
    state.apply("categories", [{"category_id": c, "consumable": True} for c in (2, 5)])
    shoppers = [(int(u), None) for u in range(1, 25)] + [(None, f"s{k}") for k in range(8)]
    t = T0
    for step in range(120):
        t += int(rng.integers(1, 200_000))
        user, session = shoppers[int(rng.integers(len(shoppers)))]
        if session is not None and rng.random() < 0.05:
            user = int(rng.integers(1, 25))  # the session signs in
        who = {"user_id": user, "session_id": session}
        shown = rng.choice(PRODUCTS[:60], 10, replace=False)
        query = int(rng.integers(1, 9)) if rng.random() < 0.4 else None
        state.apply("impressions", [{**who, "timestamp": t, "product_id": int(p), "request_id": step,
                                     "query_id": query, "position": i + 1} for i, p in enumerate(shown)])
        table = str(rng.choice(["clicks", "clicks", "carts", "orders"]))
        rows = [{**who, "timestamp": t + 1 + i, "product_id": int(p), "request_id": step}
                for i, p in enumerate(rng.choice(shown, int(rng.integers(0, 4)), replace=False))]
        if table == "orders":
            rows = [{**r, "store_id": 1, "price_paid": float(rng.uniform(1, 50)), "quantity": 1,
                     "cancelled": bool(rng.random() < 0.2)} for r in rows]
        if rows:
            state.apply(table, rows)
    return state, shoppers, t


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_views_and_signals_equal_the_reference(seed):
    state, shoppers, t = _stream(seed)
    for now in (t, t + 3_600_000, t + 30 * 3_600_000):
        for user, session in [*shoppers, (999, None)]:
            view = state.shopper_view(user, session, now)
            if view.known:
                ref = reference_exclude(state, user, session, now)
                assert ref.dtype == view.exclude.dtype and np.array_equal(view.exclude, ref)
        ids = np.r_[PRODUCTS[::3], [5, 7_000_000]]  # and two the state never saw
        got, ref = state.product_signals(ids, now), reference_signals(state, ids, now)
        assert got.keys() == ref.keys()
        for key in ref:
            assert np.array_equal(got[key], ref[key]), key
    assert any(len(state.shopper_view(u, s, t).exclude) for u, s in shoppers), "the stream excludes something"


@pytest.mark.parametrize("seed", [1, 2])
def test_live_feature_columns_equal_the_reference(seed):
    state, shoppers, t = _stream(seed)
    rng = np.random.default_rng(seed)
    s = state.settings
    for user, session in shoppers:
        view = state.shopper_view(user, session, t)
        ids = rng.choice(np.r_[PRODUCTS, [1, 2, 3]], 80, replace=False)
        leaves = np.where(ids >= 1_000, ids % 7, -1).astype(np.int64)
        item_leaves = np.where(rng.random(len(view.items)) < 0.1, -1, view.items % 7).astype(np.int64)
        signals = state.product_signals(ids, t)
        got = live_features.live_feature_columns(view, signals, ids, leaves, item_leaves, t, s)
        ref = reference_columns(view, signals, ids, leaves, item_leaves, t, s)
        for key in live_features.LIVE_COLUMNS:
            np.testing.assert_array_equal(got[key], ref[key], err_msg=key)


def _logged_rows(seed: int, n: int = 300) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        user = None if rng.random() < 0.3 else int(rng.integers(1, 50))
        rows.append({"timestamp": T0 + int(rng.integers(0, 7_200_000)), "user_id": user,
                     "session_id": f"s{i % 9}" if user is None or rng.random() < 0.2 else None,
                     "product_id": int(rng.integers(1, 1_000)),
                     "request_id": None if rng.random() < 0.1 else i,
                     "query_id": int(rng.integers(1, 20)) if rng.random() < 0.5 else None,
                     "store_id": int(rng.integers(1, 9)) if rng.random() < 0.5 else None,
                     "price_paid": float(rng.uniform(1, 90)), "quantity": int(rng.integers(1, 3)),
                     "cancelled": bool(rng.random() < 0.2)})
    return rows


@pytest.mark.parametrize("table", ["impressions", "clicks", "orders"])
def test_a_logged_arrow_table_gives_the_batch_its_rows_give(table):
    rows = _logged_rows(len(table))
    arrow = pa.Table.from_pylist(rows)
    stamped = arrow.cast(arrow.schema.set(0, pa.field("timestamp", pa.timestamp("ms"))))
    for got, ref in ((event_batch(table, arrow), event_batch(table, rows)),
                     (event_batch(table, stamped), event_batch(table, rows))):
        for name in ("kind", "time", "user_id", "product_id", "request_id", "query_id", "store_id", "gmv",
                     "cancelled"):
            a, b = getattr(got, name), getattr(ref, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        assert got.session_id == ref.session_id


def test_columns_the_log_holds_only_nulls_of_give_what_their_rows_give():
    nulls = {"query_id": None, "session_id": None}
    rows = [{k: v for k, v in r.items() if k != "store_id"} | nulls
            for r in _logged_rows(3, 50) if r["user_id"] is not None]
    arrow = pa.Table.from_pylist(rows)
    assert pa.types.is_null(arrow.schema.field("query_id").type)
    got, ref = event_batch("impressions", arrow), event_batch("impressions", rows)
    assert np.array_equal(got.query_id, ref.query_id) and got.session_id == ref.session_id
    assert np.array_equal(got.store_id, ref.store_id) and got.store_id.dtype == ref.store_id.dtype


def test_an_arrow_table_missing_a_required_value_or_a_shopper_is_still_refused_saying_which_row():
    rows = _logged_rows(5, 10)
    rows[3]["product_id"] = None
    with pytest.raises(ValueError, match="clicks row 3: product_id is missing"):
        event_batch("clicks", pa.Table.from_pylist(rows))
    rows = _logged_rows(5, 10)
    rows[6]["user_id"], rows[6]["session_id"] = None, None
    with pytest.raises(ValueError, match="clicks row 6: names no shopper"):
        event_batch("clicks", pa.Table.from_pylist(rows))


def test_applying_prepared_chunks_is_replaying_the_tables():
    rows = _logged_rows(9)
    tables = {"impressions": pa.Table.from_pylist(rows[:150]), "clicks": pa.Table.from_pylist(rows[150:])}
    a, b = LiveState(), LiveState()
    assert a.replay(tables) == b.apply_chunks(list(replay_chunks(tables))) == 300
    for user in range(1, 50):
        va, vb = a.shopper_view(user, None, T0 + 7_200_000), b.shopper_view(user, None, T0 + 7_200_000)
        assert np.array_equal(va.items, vb.items) and np.array_equal(va.ignored_shown, vb.ignored_shown)


# ---- the shopper's view read per request (issue 30): every field as the reads before it ------
def reference_ring_read(ring, row: int) -> dict[str, np.ndarray]:
    """Ring.read as it was: an arange and a modulo per read, a dict of fancy indexes."""
    n = int(min(ring.count[row], ring.size)) if row < len(ring.count) else 0
    at = (ring.count[row] - 1 - np.arange(n)) % ring.size if n else np.zeros(0, np.int64)
    return {name: array[row, at] for name, array in ring.cols.items()}


def reference_ignored_read(cards, row: int, now: int) -> tuple[np.ndarray, np.ndarray]:
    """IgnoredCards.read as it was: a boolean mask and the sort however few the cards."""
    if row >= len(cards.item):
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    ok = (cards.item[row] >= 0) & (cards.last[row] >= now - cards.window)
    items, shown = cards.item[row][ok], cards.shown[row][ok].astype(np.int64)
    order = np.argsort(-shown, kind="stable")
    return items[order], shown[order]


def reference_now_ms(self: LiveState, at_ms=None) -> int:
    from ranking.live.batch import to_epoch_ms

    clock = int(to_epoch_ms(self.clock)) if self.clock > np.iinfo(np.int32).min else 0
    return max(clock, at_ms or 0)


VIEW_FIELDS = ("items", "times_ms", "kinds", "leaves", "stores", "brands", "queries", "query_times_ms",
               "bought", "ignored", "ignored_shown", "exclude")


def assert_same_view(got, ref) -> None:
    assert (got.user_id, got.session_id, got.known, got.now_ms) == (ref.user_id, ref.session_id, ref.known,
                                                                    ref.now_ms)
    assert type(got.now_ms) is type(ref.now_ms)
    for name in VIEW_FIELDS:
        a, b = getattr(got, name), getattr(ref, name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name


SMALL_RINGS = LiveSettings(ignore_after_impressions=2, recent_interactions=3, recent_queries=2,
                           bought_items=2, ignored_items=4, ignore_window_hours=1)


@pytest.mark.parametrize("settings", [None, SMALL_RINGS], ids=["default", "small-rings"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_view_field_equals_the_reads_before(seed, settings):
    state, shoppers, t = _stream(seed, settings)
    rings = state.history.interactions, state.history.queries, state.history.bought
    if settings is SMALL_RINGS:  # the rings went round: their newest-first order wraps
        assert all((ring.count > ring.size).any() for ring in rings)
    for now in (None, t - 3_600_000, t, t + 1_800_000, t + 3_600_000, t + 30 * 3_600_000, 5_000_000_000_000):
        for user, session in [*shoppers, (999, None), (None, "nobody")]:
            assert_same_view(state.shopper_view(user, session, now),
                             reference_shopper_view(state, user, session, now))
    for ring in rings:
        for row in range(state.shoppers.rows):
            got, ref = ring.read(row), reference_ring_read(ring, row)
            assert got.keys() == ref.keys()
            for name in ref:
                assert got[name].dtype == ref[name].dtype and np.array_equal(got[name], ref[name])
    ig = state.history.ignored
    for row in range(state.shoppers.rows + 2):  # and two rows never reserved
        for now in (int(to_live_seconds(t)), int(to_live_seconds(t + 3_000_000))):
            for a, b in zip(ig.read(row, now), reference_ignored_read(ig, row, now), strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)


def reference_leaf_affinity(view, within_ms: int) -> dict[int, float]:
    """ShopperView.leaf_affinity as it was: a Counter of the leaves."""
    from collections import Counter

    recent = view.leaves[(view.times_ms >= view.now_ms - within_ms) & (view.leaves >= 0)]
    counts = Counter(recent.tolist())
    return {leaf: c / len(recent) for leaf, c in counts.items()}


@pytest.mark.parametrize("seed", [1, 2])
def test_what_the_engine_reads_of_a_view_is_what_it_read_before(seed):
    from ranking.live.state import ShopperViews

    state, shoppers, t = _stream(seed, SMALL_RINGS if seed == 2 else None)
    rng = np.random.default_rng(seed)
    seen = 0
    for user, session in [*shoppers, (999, None)]:
        view = state.shopper_view(user, session, t)
        view.leaves = np.where(rng.random(len(view.leaves)) < 0.2, -1, view.leaves)  # some unknown
        for within in (0, 60_000, 600_000, 3_600_000, 10**12):
            got, ref = view.leaf_affinity(within), reference_leaf_affinity(view, within)
            assert list(got.items()) == list(ref.items())  # the same leaves, in the same order
            seen += len(got) > 1
        for v in (view, None):
            got = ShopperViews.of(v, t)
            known = v is not None and v.known
            assert got.known.dtype == bool and got.known.tolist() == [known]
            assert got.now_ms.dtype == np.int64 and np.array_equal(got.now_ms, np.full(1, t, np.int64))
            if known:
                assert np.array_equal(got.item_of, np.zeros(len(v.items), np.int64)) and got.items is v.items
    assert seen, "some shopper touched several leaves"


def test_a_state_with_no_event_reads_its_clock_as_before():
    state = LiveState()
    for at in (None, 0, T0, np.int64(T0)):
        assert state.now_ms(at) == reference_now_ms(state, at)
        assert type(state.now_ms(at)) is type(reference_now_ms(state, at))
    assert_same_view(state.shopper_view(1, None, T0), reference_shopper_view(state, 1, None, T0))


def test_live_second_is_to_live_seconds_of_one_time_wrapped_alike():
    from ranking.live.batch import EPOCH_MS, live_second

    rng = np.random.default_rng(0)
    times = [0, 1, -1, EPOCH_MS, EPOCH_MS - 1, EPOCH_MS - 999, T0, 253_402_300_799_999,  # 9999-12-31
             EPOCH_MS + (2**31 - 1) * 1000, EPOCH_MS + 2**31 * 1000, EPOCH_MS - 2**31 * 1000 - 1,
             *rng.integers(-(2**62), 2**62, 200).tolist(), *rng.integers(0, 2 * T0, 200).tolist()]
    for ms in times:
        assert live_second(ms) == int(to_live_seconds(ms)), ms
        assert type(live_second(np.int64(ms))) is int


# ---- whole pages: the service's path with the live state, before and after -------------------
def reference_shopper_view(self: LiveState, user_id, session_id=None, at_ms=None):
    """LiveState.shopper_view as it was (np.isin, np.r_, the sort whatever the shopper; the
    rings' reads and the clock as they were)."""
    from ranking.live.batch import to_epoch_ms
    from ranking.live.state import ShopperView

    now_ms = reference_now_ms(self, at_ms)
    row = self.shoppers.find(user_id, session_id)
    if row < 0:
        return ShopperView(user_id, session_id, False, now_ms)
    h, cat, pid = self.history, self.catalog, self.catalog.products.ids
    it, q, b = (reference_ring_read(ring, row) for ring in (h.interactions, h.queries, h.bought))
    now = int(to_live_seconds(now_ms))
    ignored, shown = reference_ignored_read(h.ignored, row, now)
    final = ~np.isin(cat.leaf[b["item"]], cat.consumable_leaves)
    tired = shown >= self.settings.ignore_after_impressions
    exclude = np.unique(np.r_[pid[b["item"][final]], pid[ignored[tired]]])
    return ShopperView(
        user_id, session_id, True, now_ms, items=pid[it["item"]], times_ms=to_epoch_ms(it["time"]),
        kinds=it["kind"], leaves=cat.leaf[it["item"]].astype(np.int64),
        stores=cat.store[it["item"]].astype(np.int64), brands=cat.brand[it["item"]].astype(np.int64),
        queries=q["query"], query_times_ms=to_epoch_ms(q["time"]), bought=pid[b["item"]],
        ignored=pid[ignored], ignored_shown=shown, exclude=exclude)


def _pages(engine, state: LiveState | None, requests: list) -> list[list[tuple]]:
    import copy

    pages = []
    for name, request in requests:
        request = copy.copy(request)
        request.hydrated = {}
        if state is not None:
            view = state.shopper_view(request.user_id, request.session_id, request.now_ms)
            request.shopper = view if view.known else None
            request.live_signals = state.product_signals
        request.log_features = True  # and the live feature values the model read, as served
        page = engine.rank(name, request)
        pages.append([(c["product_id"], c["score"], c["model_score"], c["propensity"], tuple(c["sources"]))
                      for c in page.cards] + [page.live_features])
    return pages


def test_pages_with_the_live_state_are_the_pages_the_pre_change_code_served(small_models, monkeypatch):
    import ranking.live.state as state_module
    import ranking.pipeline.filters.live_history as history_module
    import ranking.pipeline.live_features as provider_module
    from ranking.engine import Engine
    from ranking.pipeline import RankRequest
    from ranking.settings import load_settings

    # log_feature_share > 0: the live-feature provider runs whatever the model reads
    settings = load_settings(["live.ignore_after_impressions=2", "live.log_feature_share=1.0"])
    engine = Engine.load(small_models / "latest", settings)
    assert any(getattr(p, "name", "") == "live" for p in engine.pipelines["search"].extra_features)
    snap = engine.snapshot
    rng = np.random.default_rng(4)
    ok = snap.products.ids[(snap.products.columns["stock"] > 0) & (snap.products.columns["banned"] == 0)]
    products = rng.choice(ok, 60, replace=False)
    state = LiveState(settings.live)
    ids, leaves, consumable = engine.product_leaves()
    state.catalog.describe(ids, leaf=leaves)
    state.apply("categories", [{"category_id": int(c), "consumable": True} for c in consumable])
    users = [int(u) for u in rng.choice(snap.users.ids, 10, replace=False)] + [10**9]
    t = T0
    for step in range(150):
        t += int(rng.integers(1_000, 60_000))
        user = users[int(rng.integers(len(users)))]
        shown = rng.choice(products, 8, replace=False)
        state.apply("impressions", [{"user_id": user, "timestamp": t, "product_id": int(p),
                                     "request_id": step, "position": i + 1} for i, p in enumerate(shown)])
        table = str(rng.choice(["clicks", "clicks", "carts", "orders"]))
        rows = [{"user_id": user, "timestamp": t + 1 + i, "product_id": int(p), "request_id": step}
                for i, p in enumerate(rng.choice(shown, int(rng.integers(0, 3)), replace=False))]
        if table == "orders":
            rows = [{**r, "store_id": 1, "price_paid": 9.5, "quantity": 1, "cancelled": False} for r in rows]
        if rows:
            state.apply(table, rows)
    words = [w for w in snap.text.vocabulary if len(w) >= 3][:40]
    now = t + 60_000
    requests = []
    for i, user in enumerate(users):
        requests.append(("homepage", RankRequest("homepage", 20, now, 20, user_id=user, seed=i)))
        requests.append(("search", RankRequest("search", 20, now, 20, user_id=user, seed=i, query=words[i])))
    assert any(len(state.shopper_view(u, None, now).exclude) for u in users), "some shopper excludes cards"

    pages = _pages(engine, state, requests)
    assert pages != _pages(engine, None, requests), "the live state changes these pages"
    monkeypatch.setattr(LiveState, "shopper_view", reference_shopper_view)
    monkeypatch.setattr(LiveState, "product_signals",
                        lambda self, ids, at_ms=None: reference_signals(self, ids, at_ms))
    monkeypatch.setattr(provider_module, "live_feature_columns", reference_columns)
    # session intent: no isin_few since ab98763; the homepage context merges by a set since home-first-14
    # (tests/test_homepage_sources.py compares it with the numpy form)
    for module in (state_module, history_module):
        monkeypatch.setattr(module, "isin_few", np.isin)
    before = _pages(engine, state, requests)
    assert sum(len(p) - 1 for p in pages) > 300
    assert pages == before


@pytest.mark.parametrize("live_slots", [1, 2, 3, 5, 6])
def test_window_sums_equal_the_reference_however_many_buckets_are_live(live_slots):
    from ranking.live.counters import BucketRing

    rng = np.random.default_rng(live_slots)
    ring = BucketRing(6, 600)
    ring.reserve(400)
    for b in range(live_slots):
        ring.add(rng.integers(0, 400, 3_000), np.full(3_000, b * 600 + 5), int(rng.integers(0, 5)),
                 rng.random(3_000).astype(np.float32))
    rows = np.r_[rng.integers(-1, 450, 500)].astype(np.int32)
    now = (live_slots - 1) * 600 + 10
    slots = ring.live_slots(now)
    assert len(slots) == live_slots
    known = (rows >= 0) & (rows < len(ring.values))
    ref = np.zeros((len(rows), 5))
    ref[known] = ring.values[rows[known]][:, slots, :].sum(axis=1)
    assert np.array_equal(ring.sums(rows, now), ref)


def _reference_batch(table: str, rows: list[dict]) -> dict:
    """event_batch's columns row by row, as its Python loops read them before the null columns
    were read whole (a left-out or null value: -1, None, False; orders' GMV)."""
    ints = {n: np.array([-1 if r.get(n) is None else int(r[n]) for r in rows], np.int64)
            for n in ("timestamp", "user_id", "product_id", "request_id", "query_id", "store_id")}
    gmv = np.zeros(len(rows), np.float32)
    if table == "orders":
        price = np.array([float(r.get("price_paid") or 0.0) for r in rows])
        quantity = np.array([1 if r.get("quantity") is None else int(r["quantity"]) for r in rows])
        gmv = (price * quantity).astype(np.float32)
    stores = ints["store_id"].astype(np.int32)
    return {"time": to_live_seconds(ints.pop("timestamp")), **ints, "store_id": stores,
            "gmv": gmv, "cancelled": np.array([bool(r.get("cancelled")) for r in rows]),
            "session_id": [r.get("session_id") for r in rows]}


@pytest.mark.parametrize("seed", range(6))
def test_columns_left_out_or_null_give_the_row_by_row_batch(seed):
    """Columns left out of every row, null in every row (Arrow's null type) or null in some:
    the batch is the row-by-row reading's, from the Arrow table and from the rows."""
    rng = np.random.default_rng(seed)
    for table in ("impressions", "clicks", "orders"):
        rows = _logged_rows(seed + 17, 40)
        for name in ("session_id", "store_id", "query_id", "request_id", "cancelled", "price_paid",
                     "quantity"):
            how = rng.integers(3)  # 0 kept, 1 left out of every row, 2 null in every row
            for r in rows:
                if how == 1:
                    r.pop(name, None)
                elif how == 2:
                    r[name] = None
        for r in rows:
            if r.get("user_id") is None and r.get("session_id") is None:
                r["user_id"] = 7
        ref = _reference_batch(table, rows)
        for got in (event_batch(table, pa.Table.from_pylist(rows)), event_batch(table, rows)):
            for name, want in ref.items():
                have = getattr(got, name)
                if name == "session_id":
                    assert have == want and type(have) is list
                else:
                    assert have.dtype == want.dtype and np.array_equal(have, want), (table, name)
