"""Each live feature (ranking/live/features.py, the registry's ``live`` group) on a live state
fed by hand, and training's replay (training/learning/live_replay.py) point-in-time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.features import compute_features, feature_names, features
from ranking.live.features import LIVE_COLUMNS, leaf_lookup, live_feature_columns, requests_live_columns
from ranking.live.state import LiveState
from ranking.settings import LiveSettings, Settings
from training.data.mall_data import MallTables
from training.learning.live_replay import EventStream, live_feature_rows

T0 = 1_785_513_600_000  # a mall moment, epoch ms
MIN = 60_000
LEAF = {10: 100, 11: 100, 12: 200, 13: 300}  # product -> leaf category
KNOWN = (np.array(sorted(LEAF)), np.array([LEAF[p] for p in sorted(LEAF)]))
SETTINGS = LiveSettings(intent_window_minutes=30, feature_half_life_minutes=30,
                        feature_kind_weights=[1.0, 2.0, 4.0])


def click(product: int, at_ms: int, user: int = 1) -> dict:
    return {"timestamp": at_ms, "user_id": user, "product_id": product, "request_id": 1}


def shown(products: list[int], at_ms: int, user: int = 1, request: int = 1) -> list[dict]:
    return [{"timestamp": at_ms, "user_id": user, "product_id": p, "request_id": request, "position": i + 1}
            for i, p in enumerate(products)]


def columns(state: LiveState, cands: list[int], now_ms: int, user: int = 1) -> dict[str, np.ndarray]:
    ids = np.array(cands, np.int64)
    view = state.shopper_view(user, None, now_ms)
    return live_feature_columns(view, state.product_signals(ids, now_ms), ids, leaf_lookup(*KNOWN, ids),
                                leaf_lookup(*KNOWN, view.items), now_ms, SETTINGS)


def test_session_leaf_affinity_is_the_leaf_share_of_the_last_window() -> None:
    state = LiveState(SETTINGS)
    state.apply("clicks", [click(12, T0 - 50 * MIN), click(10, T0 - 20 * MIN), click(11, T0 - 10 * MIN),
                           click(12, T0 - 5 * MIN)])
    got = columns(state, [10, 12, 13, 99], T0)["session_leaf_affinity"]
    # the click 50 minutes ago is out of the 30-minute window: 2 of 3 in leaf 100, 1 in 200
    np.testing.assert_allclose(got[:3], [2 / 3, 1 / 3, 0.0], rtol=1e-6)
    assert np.isnan(got[3])  # a product of unknown leaf


def test_recent_item_interest_weighs_kinds_and_halves_every_half_life() -> None:
    state = LiveState(SETTINGS)
    state.apply("clicks", [click(10, T0 - 30 * MIN)])
    state.apply("carts", [click(10, T0 - 30 * MIN + 1000)])
    state.apply("clicks", [click(11, T0)])
    got = columns(state, [10, 11, 12], T0)["recent_item_interest"]
    # click (1) and cart (2) half an hour ago: (1 + 2) x 0.5 (the cart one second later: a hair more)
    assert got[0] == pytest.approx(0.5 + 2 * 0.5 ** ((30 * MIN - 1000) / (30 * MIN)), rel=1e-5)
    assert got[1] == pytest.approx(1.0) and got[2] == 0.0


def test_minutes_since_leaf_touch_is_the_youngest_interaction_in_the_leaf() -> None:
    state = LiveState(SETTINGS)
    state.apply("clicks", [click(10, T0 - 40 * MIN), click(11, T0 - 15 * MIN), click(12, T0 - 3 * MIN)])
    got = columns(state, [10, 12, 13], T0)["minutes_since_leaf_touch"]
    np.testing.assert_allclose(got[:2], [15.0, 3.0], rtol=1e-6)
    assert np.isnan(got[2])  # never touched that leaf


def test_ignored_impressions_count_showings_until_a_click() -> None:
    state = LiveState(SETTINGS)
    state.apply("impressions", shown([10, 11], T0 - 10 * MIN))
    state.apply("impressions", shown([10, 11], T0 - 5 * MIN, request=2))
    state.apply("clicks", [click(11, T0 - 4 * MIN)])
    got = columns(state, [10, 11, 12], T0)["ignored_impressions"]
    np.testing.assert_array_equal(got, [2.0, 0.0, 0.0])


def test_product_columns_are_the_live_counters() -> None:
    state = LiveState(SETTINGS)
    state.apply("impressions", shown([10, 11], T0 - 10 * MIN, user=2))
    state.apply("clicks", [click(10, T0 - 9 * MIN, user=u) for u in (2, 3, 4)])
    got = columns(state, [10, 11], T0)
    signals = state.product_signals(np.array([10, 11]), T0)
    np.testing.assert_allclose(got["live_hour_clicks"], np.log1p([3.0, 0.0]), rtol=1e-6)
    np.testing.assert_allclose(got["live_ctr"], signals["ctr"], rtol=1e-6)
    np.testing.assert_allclose(got["live_trend"], signals["trend"], rtol=1e-6)
    assert got["live_ctr"][0] > got["live_ctr"][1] and got["live_trend"][0] > got["live_trend"][1]


def test_without_a_view_or_signals_every_column_is_missing() -> None:
    ids = np.array([10, 11])
    got = live_feature_columns(None, None, ids, leaf_lookup(*KNOWN, ids), None, T0, SETTINGS)
    assert set(got) == set(LIVE_COLUMNS)
    assert all(np.isnan(col).all() for col in got.values())
    state = LiveState(SETTINGS)
    state.apply("clicks", [click(10, T0 - MIN, user=2)])
    unknown = columns(state, [10], T0, user=1)  # a shopper the state never saw: unknown, not zero
    assert np.isnan(unknown["recent_item_interest"]).all() and not np.isnan(unknown["live_ctr"]).any()


def test_many_requests_at_once_get_each_requests_own_columns() -> None:
    """requests_live_columns (training's replay) is live_feature_columns (the service's), request
    by request."""
    rng, offered = np.random.default_rng(11), [*LEAF, 99]  # 99: a product of unknown leaf
    state = LiveState(SETTINGS)
    for k in range(30):
        user, t = int(rng.integers(1, 5)), T0 - (30 - k) * 3 * MIN
        state.apply("impressions", shown(rng.choice(offered, 4).tolist(), t, user=user, request=k))
        state.apply("clicks" if k % 3 else "carts", [click(int(rng.choice(list(LEAF))), t + 5000, user=user)])
    users = np.array([1, 2, 3, 4, 7, 2, 1])  # 7: unknown
    at = np.array([T0, T0, T0 - 20 * MIN, T0, T0, T0 + 40 * MIN, T0 - 60 * MIN])
    cards = [rng.choice(offered, int(rng.integers(1, 6))) for _ in users]
    views = state.shopper_views(users, at)
    ids = np.concatenate(cards)
    card_of = np.repeat(np.arange(len(users)), [len(c) for c in cards])
    each = [state.product_signals(c, int(t)) for c, t in zip(cards, at, strict=True)]
    signals = {k: np.concatenate([s[k] for s in each]) for k in ("ctr", "trend", "hour_clicks")}
    many = requests_live_columns(views, signals, card_of, ids, leaf_lookup(*KNOWN, ids),
                                 leaf_lookup(*KNOWN, views.items), SETTINGS)
    for i, (user, t) in enumerate(zip(users.tolist(), at.tolist(), strict=True)):
        one = columns(state, cards[i].tolist(), t, user=user)
        for name in LIVE_COLUMNS:
            np.testing.assert_array_equal(many[name][card_of == i], one[name], err_msg=name)
    assert np.isnan(many["recent_item_interest"][card_of == 4]).all()  # the unknown shopper
    assert (np.nan_to_num(many["ignored_impressions"]) > 0).any() and (many["recent_item_interest"] > 0).any()


def test_registry_live_group_reads_the_columns_or_stays_missing() -> None:
    live = [f.name for f in features() if f.group == "live"]
    assert live == list(LIVE_COLUMNS)
    from ranking.features.inputs import FeatureInputs

    def inputs(extra: dict) -> FeatureInputs:
        z = np.zeros(2, np.int64)
        return FeatureInputs(snapshot=None, product_row=z, store_row=z, user_row=z, leaf=z, hour=z,
                             slot=z, surface=z, query_index=z - 1, queries=None, extra=extra)

    given = {name: np.array([i, i + 0.5], np.float32) for i, name in enumerate(LIVE_COLUMNS)}
    np.testing.assert_array_equal(compute_features(inputs(given), live),
                                  np.stack([given[n] for n in LIVE_COLUMNS], axis=1))
    assert np.isnan(compute_features(inputs({}), live)).all()
    assert set(live) <= set(feature_names())


def mall_of(impressions: list[dict], clicks: list[dict]) -> MallTables:
    products = pd.DataFrame({"product_id": list(LEAF), "category_id": list(LEAF.values())})
    imp = pd.DataFrame(impressions).assign(query_id=np.nan)
    empty = pd.DataFrame({c: pd.Series(dtype="int64") for c in ("timestamp", "user_id", "product_id")})
    return MallTables(Path("."), {"impressions": imp, "clicks": pd.DataFrame(clicks), "carts": empty,
                                  "orders": empty.assign(price_paid=0.0, quantity=1, cancelled=False),
                                  "products": products})


def test_training_replay_sees_only_events_strictly_before_each_request() -> None:
    mall = mall_of(shown([10, 11], T0) + shown([10, 11], T0 + MIN, request=2),
                   [click(10, T0 + 5000), click(11, T0 + MIN)])  # the second click: at request 2's time
    out = live_feature_rows(mall, mall["impressions"], np.arange(4), Settings(live=SETTINGS))
    col = {name: out[:, j] for j, name in enumerate(LIVE_COLUMNS)}
    assert np.isnan(col["recent_item_interest"][:2]).all()  # request 1: the shopper is not known yet
    # request 2: the click 55 s before counts, the one at its own timestamp does not
    assert col["recent_item_interest"][2] == pytest.approx(0.5 ** (55_000 / (30 * MIN)), rel=1e-5)
    assert col["recent_item_interest"][3] == 0.0
    np.testing.assert_array_equal(col["ignored_impressions"][2:], [0.0, 1.0])  # its own showing not yet


def test_event_stream_batches_do_not_depend_on_where_it_stops() -> None:
    imps = shown([10, 11], T0) + shown([12], T0 + 10) + shown([10], T0 + MIN, request=2)
    mall = mall_of(imps, [click(10, T0 + 5), click(11, T0 + 20)])
    one, two = EventStream(mall.tables), EventStream(mall.tables)
    a, b = LiveState(SETTINGS), LiveState(SETTINGS)
    one.apply_until(a, T0 + MIN)
    for t in (T0 + 5, T0 + 11, T0 + 30, T0 + MIN):
        two.apply_until(b, t)
    assert a.applied == b.applied and one.done == two.done == 5
    va, vb = a.shopper_view(1, None, T0 + MIN), b.shopper_view(1, None, T0 + MIN)
    np.testing.assert_array_equal(va.items, vb.items)
    np.testing.assert_array_equal(va.ignored_shown, vb.ignored_shown)


def test_recent_item_interest_adds_an_items_weights_in_view_order() -> None:
    """An item met many times: its weights are added in the view's order (not sorted, not
    grouped otherwise), checked with weights that cancel only in that order."""
    from ranking.live.features import Keys, recent_item_interest

    items = np.tile([10, 11, 12], 20)  # more than a small sort's insertion run
    kinds = np.ones(60, np.int64)
    kinds[:3], kinds[-3:] = 0, 2  # each item: +2**53 first, eighteen 1s (lost to it), -2**53 last: 0
    weights = np.array([2.0 ** 53, 1.0, -(2.0 ** 53)])
    age = np.zeros(60)
    ids = np.array([12, 10, 99, 11])
    got = recent_item_interest(Keys(1), np.zeros(4, np.int64), ids, np.zeros(60, np.int64), items, kinds, age,
                               1.0, weights)
    expected = []
    for product in ids.tolist():
        total = 0.0
        for item, kind in zip(items.tolist(), kinds.tolist(), strict=True):
            if item == product:
                total += float(weights[kind])  # view order, float64
        expected.append(total)
    assert got.tobytes() == np.array(expected, np.float32).tobytes()
    sorted_sums = [sum(sorted(float(weights[k]) for i, k in zip(items, kinds, strict=True) if i == p))
                   for p in ids.tolist()]
    assert not np.array_equal(np.array(sorted_sums, np.float32), got)  # the order matters here
