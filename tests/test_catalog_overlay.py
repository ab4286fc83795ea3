"""The live catalog overlay (ranking/live/catalog_overlay.py): copy and swap of the product columns,
price advantage recomputed for the touched comparable groups exactly as scoring computes it, store
bans as a column of their own that an unban clears, and an older bundle's fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.catalog_changes import BANS, PRODUCT_CHANGES
from ranking.features.snapshot import EntityTable
from ranking.live.catalog_overlay import carrying_store_bans, overlay_products
from ranking.live.catalog_state import CatalogState
from ranking.scores.price_advantage import price_advantage

CLIP = 0.5


def _mall(seed: int = 3, n: int = 60) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    products = pd.DataFrame({"product_id": np.arange(1, n + 1, dtype=np.int64),
                             "store_id": rng.integers(1, 6, n), "comparable_group_id": rng.integers(1, 9, n),
                             "price": rng.uniform(10, 100, n).round(1), "banned": rng.random(n) < 0.1})
    refs = pd.DataFrame({"comparable_group_id": [1, 1, 2, 5], "price": [40.0, 44.0, 70.0, 20.0],
                         "observed_at": np.full(4, 1_000, np.int64), "source": "x"})
    return products, refs, rng.uniform(3, 5, n), rng.integers(0, 3, n)


def _scored(products: pd.DataFrame, refs: pd.DataFrame, rating: np.ndarray, leaf: np.ndarray) -> pd.DataFrame:
    return price_advantage(products, refs, rating, leaf, as_of_ms=2_000, window_days=30, clip=CLIP)


def _table(products: pd.DataFrame, scored: pd.DataFrame) -> EntityTable:
    n = len(products)
    return EntityTable(products.product_id.to_numpy(), {
        "store_id": products.store_id.to_numpy(np.int64), "price": products.price.to_numpy(np.float64),
        "list_price": products.price.to_numpy(np.float64) * 1.2, "stock": np.full(n, 5, np.float32),
        "subsidy": np.zeros(n, np.float32), "banned": products.banned.to_numpy(np.float32),
        "comparable_group_id": products.comparable_group_id.to_numpy(np.int64),
        "outside_price": scored.outside_price.to_numpy(np.float32),
        "category_price": scored.category_price.to_numpy(np.float32),
        "price_advantage": scored.price_advantage.to_numpy(np.float32),
        "log_price_vs_category": np.zeros(n, np.float32)})


def test_a_price_change_reprices_its_whole_group_as_scoring_does() -> None:
    products, refs, rating, leaf = _mall()
    table = _table(products, _scored(products, refs, rating, leaf))
    state = CatalogState()
    target = 7
    group = int(products.comparable_group_id[target - 1])
    folded = state.fold([(PRODUCT_CHANGES, {"product_id": target, "price": 5.0, "stock": 0}),
                         (BANS, {"product_ids": [3], "store_ids": [], "reason": "fake", "unban": False})])
    after = overlay_products(table, state, folded, CLIP)

    changed = products.assign(price=np.where(products.product_id == target, 5.0, products.price),
                              banned=products.banned | (products.product_id == 3))
    truth = _scored(changed, refs, rating, leaf)
    uses_group = (truth.price_advantage_source != "category").to_numpy()
    np.testing.assert_allclose(after.columns["price_advantage"][uses_group],
                               truth.price_advantage.to_numpy()[uses_group], rtol=1e-5, atol=1e-6)
    members = products.comparable_group_id.to_numpy() == group
    moved = after.columns["price_advantage"][members] - table.columns["price_advantage"][members]
    assert np.abs(moved).max() > 0.01, "the group's other listings moved too"
    assert after.columns["price"][target - 1] == 5.0 and after.columns["stock"][target - 1] == 0
    assert after.columns["banned"][2] == 1
    np.testing.assert_allclose(after.columns["log_price_vs_category"][target - 1],
                               np.log(5.0) - np.log(products.price[target - 1]), rtol=1e-5)


def test_copy_and_swap_leaves_the_served_table_whole() -> None:
    products, refs, rating, leaf = _mall()
    table = _table(products, _scored(products, refs, rating, leaf))
    before = {k: v.copy() for k, v in table.columns.items()}
    state = CatalogState()
    folded = state.fold([(PRODUCT_CHANGES, {"product_id": 1, "stock": 0})])
    after = overlay_products(table, state, folded, CLIP)
    for name, values in before.items():
        np.testing.assert_array_equal(table.columns[name], values)  # the old table never moved
    assert after.columns["list_price"] is table.columns["list_price"], "untouched columns are shared"
    assert after.columns["stock"] is not table.columns["stock"]


def test_a_store_ban_covers_its_products_and_an_unban_clears_it() -> None:
    products, refs, rating, leaf = _mall()
    table = _table(products, _scored(products, refs, rating, leaf))
    state = CatalogState()
    ban = {"product_ids": [], "store_ids": [2], "reason": "fraud", "unban": False}
    banned = overlay_products(table, state, state.fold([(BANS, ban)]), CLIP)
    of_store = products.store_id.to_numpy() == 2
    assert (banned.columns["store_banned"][of_store] == 1).all()
    assert (banned.columns["store_banned"][~of_store] == 0).all()
    np.testing.assert_array_equal(banned.columns["banned"], table.columns["banned"])  # own bans stay own
    lifted = overlay_products(banned, state, state.fold([(BANS, {**ban, "unban": True})]), CLIP)
    assert (lifted.columns["store_banned"] == 0).all()
    np.testing.assert_allclose(lifted.columns["price_advantage"], table.columns["price_advantage"], atol=1e-6)


def test_every_change_so_far_lays_over_a_fresh_table_alike() -> None:
    products, refs, rating, leaf = _mall()
    table = _table(products, _scored(products, refs, rating, leaf))
    state = CatalogState()
    step = table
    batches = [[(PRODUCT_CHANGES, {"product_id": 4, "price": 33.0})],
               [(BANS, {"product_ids": [9], "store_ids": [1], "reason": "x", "unban": False})],
               [(PRODUCT_CHANGES, {"product_id": 5, "subsidy": True, "list_price": 99.0})]]
    for rows in batches:
        step = overlay_products(step, state, state.fold(rows), CLIP)
    whole = overlay_products(table, state, None, CLIP)  # a reloaded bundle gets every change at once
    for name in step.columns:
        np.testing.assert_allclose(whole.columns[name], step.columns[name], atol=1e-6, err_msg=name)


def test_an_older_bundle_reprices_the_listing_against_its_implied_reference() -> None:
    products, refs, rating, leaf = _mall()
    full = _table(products, _scored(products, refs, rating, leaf))
    cols = {k: v for k, v in full.columns.items() if k not in ("comparable_group_id", "outside_price",
                                                              "category_price")}
    old = EntityTable(full.ids, cols)
    adv, price = float(cols["price_advantage"][0]), float(cols["price"][0])
    reference = price / (1 - adv)
    state = CatalogState()
    after = overlay_products(old, state, state.fold([(PRODUCT_CHANGES, {"product_id": 1,
                                                                         "price": reference * 0.9})]), CLIP)
    assert abs(after.columns["price_advantage"][0] - 0.1) < 1e-5
    np.testing.assert_array_equal(after.columns["price_advantage"][1:], cols["price_advantage"][1:])


def test_no_change_keeps_the_table_so_what_is_built_for_it_stays_valid() -> None:
    products, refs, rating, leaf = _mall()
    table = carrying_store_bans(_table(products, _scored(products, refs, rating, leaf)))  # as served
    state = CatalogState()
    assert overlay_products(table, state, None, CLIP) is table  # the start's overlay with no change
    same = {"product_id": 4, "price": float(products.price[3]), "stock": 5}  # the values it has
    unknown = {"product_id": 999, "price": 1.0}  # a product this table does not know
    assert overlay_products(table, state, state.fold([(PRODUCT_CHANGES, same),
                                                      (PRODUCT_CHANGES, unknown)]), CLIP) is table
    assert overlay_products(table, state, None, CLIP) is table  # every change so far: still none


def test_a_change_shares_every_column_it_leaves_bit_for_bit_the_same() -> None:
    products, refs, rating, leaf = _mall()
    table = _table(products, _scored(products, refs, rating, leaf))
    state = CatalogState()
    banned = overlay_products(table, state, state.fold([(BANS, {"product_ids": [], "store_ids": [2],
                                                                "reason": "fraud", "unban": False})]), CLIP)
    after = overlay_products(banned, state, state.fold([(PRODUCT_CHANGES, {"product_id": 1, "stock": 0})]),
                             CLIP)
    assert after is not banned and after.columns["stock"][0] == 0
    assert after.columns["store_banned"] is banned.columns["store_banned"]  # no new ban: the same column
    assert after.columns["price_advantage"] is banned.columns["price_advantage"]
    fresh = overlay_products(table, state, None, CLIP)  # every change so far over the bundle's table
    assert "store_banned" in fresh.columns and fresh.columns["stock"][0] == 0


def test_the_overlay_always_carries_store_banned_and_a_first_store_ban_adds_no_column() -> None:
    """A bundle's table has no ``store_banned``: the engine serves it with zeros (``carrying_store_bans``:
    the other columns shared, a table that has one kept), the overlay writes it even with no store
    banned, and a store's first ban then changes its values only: the new table has the same columns."""
    products, refs, rating, leaf = _mall()
    bundle = _table(products, _scored(products, refs, rating, leaf))
    assert "store_banned" not in bundle.columns
    served = carrying_store_bans(bundle)
    assert carrying_store_bans(served) is served
    assert served.columns["store_banned"].dtype == np.float32 and not served.columns["store_banned"].any()
    assert all(served.columns[n] is c for n, c in bundle.columns.items())
    state = CatalogState()
    assert not overlay_products(bundle, state, None, CLIP).columns["store_banned"].any()
    banned = overlay_products(served, state, state.fold([(BANS, {"product_ids": [], "store_ids": [2],
                                                                 "reason": "fraud", "unban": False})]), CLIP)
    assert list(banned.columns) == list(served.columns)
    assert banned.columns["store_banned"].any() and banned.columns["store_banned"].dtype == np.float32
