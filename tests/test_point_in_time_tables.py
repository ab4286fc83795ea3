"""Each table a training snapshot reads, as of its moment T, worked by hand on a three-listing mall.

One leaf, one comparable group: P1 (store 1) at 20, P2 (store 2) at 22, P3 (store 3) at 26. The
merged catalog log holds: P3 banned a day before T and unbanned a day after; P1 repriced to 30 a
day after T; a new listing P5 (store 1, its own group, 1000) sent a day after T. Store 1 sold P1
twice before T and three times after. One shopper clicked P1 before T.

As of T: the catalog is P1 20, P2 22, P3 26 banned, no P5 (:meth:`CatalogTimeline.products_as_of`);
P1's price advantage is (22 - 20) / 22 (P3 banned, so P2 is the only other live listing), P2's
(20 - 22) / 20; the leaf's median log price is log 22 (P5 not yet listed), so P1's price against
its category is log(20 / 22), and the shopper's usual price level, from that one click, the same;
store 1 has 2 orders. The merged (final) catalog would say P1 30 against the others' 24, a leaf
median of log((26 * 30) ** 0.5), and so on: what ``training.point_in_time_scores=false`` reads.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.settings import load_settings
from training.data.mall_data import MallTables, load_mall
from training.learning.catalog_timeline import CatalogTimeline
from training.learning.snapshot_builder import build_snapshot, log_price_vs_category

DAY = 86_400_000
T = int(pd.Timestamp("2026-06-20", tz="UTC").value // 1_000_000)
START = T - 30 * DAY
EMPTY = ("impressions", "carts", "shipments", "returns", "reviews", "service_tickets", "reference_prices")


def _frame(template: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """``rows`` in the columns and dtypes of a loaded contract table."""
    return pd.DataFrame(rows, columns=template.columns).astype(template.dtypes.to_dict())


def _product(pid: int, store: int, group: int, price: float) -> dict:
    return {"product_id": pid, "store_id": store, "brand_id": 1, "category_id": 10,
            "comparable_group_id": group, "title": f"kettle {pid}", "attribute_count": 5, "image_count": 3,
            "price": price,
            "list_price": 40.0 if pid != 5 else 1200.0, "stock": 10, "subsidy": False, "banned": False,
            "listed_at": START}


def _order(oid: int, ts: int) -> dict:
    return {"order_id": oid, "request_id": oid, "timestamp": ts, "user_id": 1, "product_id": 1, "store_id": 1,
            "price_paid": 20.0, "quantity": 1, "cancelled": False}


@pytest.fixture(scope="module")
def templates(small_mall: Path) -> MallTables:
    return load_mall(small_mall)


def _mall(templates: MallTables, final: bool) -> MallTables:
    """The three-listing mall: ``final`` its merged catalog and every order; else the mall as it
    stood at T (the catalog then, the orders before it)."""
    t = templates
    prices = {1: 30.0 if final else 20.0, 2: 22.0, 3: 26.0}
    products = [_product(pid, pid, 100, price) for pid, price in prices.items()]
    if final:
        products.append({**_product(5, 1, 200, 1000.0), "listed_at": T + DAY})
    else:
        products[2]["banned"] = True
    orders = [_order(1, T - 5 * DAY), _order(2, T - 2 * DAY)]
    if final:
        orders += [_order(3, T + DAY), _order(4, T + 2 * DAY), _order(5, T + 3 * DAY)]
    tables = {
        "categories": _frame(t["categories"], [
            {"category_id": 1, "parent_id": None, "level": 0, "name": "家电", "name_en": "appliances",
             "theme": "digital", "consumable": False},
            {"category_id": 10, "parent_id": 1, "level": 1, "name": "水壶", "name_en": "kettles",
             "theme": "digital", "consumable": False}]),
        "brands": _frame(t["brands"], [{"brand_id": 1, "name": "Acme", "tier": "big_brand"}]),
        "stores": _frame(t["stores"], [{"store_id": s, "name": f"store {s}", "opened_at": START - 90 * DAY,
                                        "region": "east"} for s in (1, 2, 3)]),
        "products": _frame(t["products"], products),
        "users": _frame(t["users"], [{"user_id": 1, "region": "east", "signup_at": START}]),
        "clicks": _frame(t["clicks"], [{"request_id": 9, "timestamp": T - 3 * DAY, "user_id": 1,
                                        "product_id": 1, "position": 0}]),
        "orders": _frame(t["orders"], orders),
        **{name: t[name].iloc[0:0] for name in EMPTY},
    }
    return MallTables(Path("unused"), tables)


def _timeline() -> CatalogTimeline:
    change = {"received_at": None, "price": np.nan, "list_price": np.nan, "stock": np.nan, "subsidy": None,
              "banned": None, "reason": None, "client": "operator"}
    history = pd.DataFrame([
        {**change, "product_id": 3, "changed_at": T - DAY, "kind": "ban", "banned": True, "reason": "fake"},
        {**change, "product_id": 1, "changed_at": T + DAY, "kind": "upsert", "price": 30.0},
        {**change, "product_id": 5, "changed_at": T + DAY, "kind": "upsert", "price": 1000.0,
         "list_price": 1200.0, "stock": 10, "subsidy": False, "banned": False},
        {**change, "product_id": 3, "changed_at": T + DAY, "kind": "unban", "banned": False},
    ])
    originals = pd.DataFrame({"product_id": [1, 3], "price": [20.0, 26.0], "list_price": [40.0, 40.0],
                              "stock": [10, 10], "subsidy": [False, False], "banned": [False, False]})
    return CatalogTimeline.from_frames(history, originals)


def _snapshots(templates: MallTables, point_in_time: bool = True):
    settings = load_settings(["training.point_in_time_scores=" + str(point_in_time).lower()])
    merged = build_snapshot(_mall(templates, final=True), T, settings, timeline=_timeline())
    then = build_snapshot(_mall(templates, final=False), T, settings)
    return merged, then


def _product_value(snapshot, column: str, pid: int) -> float:
    return float(snapshot.products.take(column, snapshot.products.rows(np.array([pid])))[0])


def test_the_catalog_as_of_t_by_hand(templates: MallTables) -> None:
    final = _mall(templates, final=True)["products"]
    at, exists = _timeline().products_as_of(final, T)
    at = at.set_index("product_id")
    assert at.price.to_dict() == {1: 20.0, 2: 22.0, 3: 26.0, 5: 1000.0}
    assert at.banned.to_dict() == {1: False, 2: False, 3: True, 5: False}
    assert dict(zip(final.product_id, exists, strict=True)) == {1: True, 2: True, 3: True, 5: False}
    later, _ = _timeline().products_as_of(final, T + 2 * DAY)
    assert later.set_index("product_id").price[1] == 30.0 and not later.banned.any()


def test_category_price_median_by_hand() -> None:
    price, leaf = np.array([20.0, 22.0, 26.0, 1000.0]), np.array([0, 0, 0, 0])
    counted = np.array([True, True, True, False])  # the 1000 listing is not listed yet
    got = log_price_vs_category(price, leaf, counted)
    np.testing.assert_allclose(got, np.log(price / 22.0))
    every = log_price_vs_category(price, leaf)[0]  # counting the 1000 listing: the median of 22 and 26
    assert every == pytest.approx(math.log(20.0) - 0.5 * math.log(22 * 26))


def test_price_advantage_and_leaf_median_of_the_snapshot_by_hand(templates: MallTables) -> None:
    merged, _ = _snapshots(templates)
    assert _product_value(merged, "price_advantage", 1) == pytest.approx((22 - 20) / 22, rel=1e-6)
    assert _product_value(merged, "price_advantage", 2) == pytest.approx((20 - 22) / 20, rel=1e-6)
    assert _product_value(merged, "log_price_vs_category", 1) == pytest.approx(math.log(20 / 22), rel=1e-6)
    assert _product_value(merged, "price", 1) == 20.0
    leak, _ = _snapshots(templates, point_in_time=False)
    assert _product_value(leak, "price_advantage", 1) == pytest.approx((24 - 30) / 24, rel=1e-6)


def test_shopper_profile_by_hand(templates: MallTables) -> None:
    merged, _ = _snapshots(templates)
    row = merged.users.rows(np.array([1]))
    assert float(merged.users.take("price_level", row)[0]) == pytest.approx(math.log(20 / 22), rel=1e-6)
    leak, _ = _snapshots(templates, point_in_time=False)
    final_median = 0.5 * math.log(26 * 30)  # 22, 26, 30, 1000
    leaked = float(leak.users.take("price_level", row)[0])
    assert leaked == pytest.approx(math.log(30) - final_median, rel=1e-5)


def test_product_and_store_scores_are_those_of_the_mall_at_t(templates: MallTables) -> None:
    merged, then = _snapshots(templates)
    for pid in (1, 2, 3):
        for column in ("product_score", "product_price", "price_advantage", "cvr", "sales_velocity"):
            assert _product_value(merged, column, pid) == pytest.approx(_product_value(then, column, pid),
                                                                        rel=1e-6, abs=1e-9), (pid, column)
    rows = merged.stores.rows(np.array([1, 2, 3]))
    for column in ("store_experience_score", "store_stability", "returning_customer_index"):
        np.testing.assert_allclose(merged.stores.take(column, rows), then.stores.take(column, rows),
                                   rtol=1e-6)
    leak, _ = _snapshots(templates, point_in_time=False)
    assert _product_value(leak, "product_price", 1) < _product_value(merged, "product_price", 1)


def test_store_orders_as_of_t_by_hand(templates: MallTables) -> None:
    from ranking.scores import compute_scores_from_tables

    settings = load_settings([])
    scores = compute_scores_from_tables(_mall(templates, final=True).tables, T, settings.scores)
    assert scores.stores.orders_n.to_dict() == {1: 2.0, 2: 0.0, 3: 0.0}  # the three after T not yet
    assert scores.products.orders_n[1] == 2.0
