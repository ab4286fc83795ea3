"""Builds the feature snapshot of a mall as of a moment, from events before it only.

Platform scores come from :mod:`ranking.scores` (as of the same moment); user profiles
(category interest by time slot, usual price level, products and categories bought,
stores visited) from clicks (weight 1), carts (2) and orders (4) in the
``training.history_days`` before the moment. Interest shares are smoothed toward the
mall-wide share with 5 pseudo-interactions, so a user with two clicks is not certain.
Given a dataset's catalog change history, the catalog too is the moment's
(:func:`catalog_as_of`): the scores, the leaf price medians and the profiles read the prices,
stock and bans of then, not the merged final table (``training.point_in_time_scores``).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ranking.card_badges import OFFER_COLUMNS
from ranking.features.catalog_text import build_catalog_text
from ranking.features.snapshot import EntityTable, FeatureSnapshot, PairSet
from ranking.mall_clock import local_hour
from ranking.settings import Settings
from training.data.mall_data import MallTables
from training.learning.catalog_timeline import CatalogTimeline

DAY_MS = 86_400_000
SMOOTHING = 5.0
NEW_STORE_DAYS = 30
SLOT_OF_THEME = {"grains_oil": 0, "food_daily": 1, "digital": 2, "beauty": 2, "": -1}

PRODUCT_SCORE_COLUMNS = (
    "product_score", "product_information", "product_popularity", "product_quality",
    "product_service", "product_brand", "product_price", "price_advantage", "ctr", "cvr",
    "sales_velocity", "rating", "outside_price", "category_price",  # these two: the live catalog's
    # price advantage (docs/catalog.md); then the best reputation among creators featuring it
    "creator_reputation",
)
# each product's impressions, clicks and orders in the scores' window (ranking.cold_start.posterior)
COLD_START_COUNTS = ("impressions_n", "clicks_n", "orders_n")
STORE_SCORE_COLUMNS = (
    "store_experience_score", "store_product_quality", "store_logistics", "store_service",
    "store_stability", "returning_customer_index", "returning_quality_value", "returning_service",
    "returning_content", "returning_repeat",
)


class CatalogCache:
    """What does not change between snapshots of one catalog (text, leaves, price levels)."""

    def __init__(self, mall: MallTables) -> None:
        products = mall["products"].sort_values("product_id").reset_index(drop=True)
        cats = mall["categories"]
        leaves = cats[cats.level == 1].sort_values("category_id")
        self.products = products
        self.leaf_ids = leaves.category_id.to_numpy().astype(np.int64)
        self.leaf_theme_slot = leaves.theme.map(SLOT_OF_THEME).to_numpy().astype(np.int8)
        pos = np.searchsorted(self.leaf_ids, products.category_id.to_numpy())
        pos = np.clip(pos, 0, len(self.leaf_ids) - 1)
        self.product_leaf = np.where(self.leaf_ids[pos] == products.category_id.to_numpy(), pos, -1)
        self.log_price_vs_category = log_price_vs_category(products.price.to_numpy(), self.product_leaf)
        tiers = mall["brands"].set_index("brand_id").tier
        self.big_brand = (products.brand_id.map(tiers) == "big_brand").to_numpy()
        parent = cats.set_index("category_id").parent_id
        top = products.category_id.map(parent)
        self.top_category_id = top.fillna(products.category_id).to_numpy().astype(np.int64)
        self.text = build_catalog_text(products, mall["brands"], cats, self.product_leaf,
                                       len(self.leaf_ids))

    def as_of(self, products: pd.DataFrame, exists: np.ndarray) -> CatalogCache:
        """This catalog with ``products`` (the same rows, their prices, stock and bans as of a
        moment: :meth:`CatalogTimeline.products_as_of`) and the leaf price medians of the
        products that ``exists`` then; the text, leaves and brands are shared."""
        at = copy.copy(self)
        at.products = products
        at.log_price_vs_category = log_price_vs_category(products.price.to_numpy(), self.product_leaf,
                                                         exists)
        return at


def log_price_vs_category(price: np.ndarray, leaf: np.ndarray, counted: np.ndarray | None = None
                          ) -> np.ndarray:
    """Log price minus the median log price of its leaf, over the ``counted`` products (all by
    default): the category price median a price is read against."""
    log_price = np.log(np.maximum(price.astype(np.float64), 0.01))
    whole = pd.Series(log_price).groupby(leaf).transform("median").to_numpy()
    if counted is None:
        return log_price - whole
    part = pd.Series(np.where(counted, log_price, np.nan)).groupby(leaf).transform("median").to_numpy()
    return log_price - np.where(np.isnan(part), whole, part)  # a leaf with none counted: all of it


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A 0/1 governance flag column of a scores frame (0 where absent)."""
    if column not in frame:
        return np.zeros(len(frame), dtype=np.float32)
    return frame[column].fillna(False).to_numpy().astype(np.float32)


def _platform_scores(mall: MallTables, as_of_ms: int, settings: Settings,
                     products: pd.DataFrame | None = None):
    from ranking.scores import compute_scores_from_tables

    tables = mall.tables if products is None else {**mall.tables, "products": products}
    return compute_scores_from_tables(tables, as_of_ms, settings.scores)


def catalog_as_of(catalog: CatalogCache, as_of_ms: int, settings: Settings,
                  timeline: CatalogTimeline | None) -> tuple[CatalogCache, pd.DataFrame | None]:
    """The catalog as of ``as_of_ms`` and the products table its scores read (the listings of that
    moment: one first sent later is neither scored, ranked against nor counted in a median; its
    scores stay missing), when the dataset has a change history and
    ``training.point_in_time_scores`` is on; else the catalog unchanged and None (the final table)."""
    if timeline is None or not settings.training.point_in_time_scores:
        return catalog, None
    products, exists = timeline.products_as_of(catalog.products, as_of_ms)
    return catalog.as_of(products, exists), products[exists].reset_index(drop=True)


def build_snapshot(mall: MallTables, as_of_ms: int, settings: Settings,
                   catalog: CatalogCache | None = None,
                   timeline: CatalogTimeline | None = None) -> FeatureSnapshot:
    """The snapshot as of ``as_of_ms``: no event at or after that moment is used, nor (given the
    dataset's ``timeline``) any catalog change: scores, leaf price medians and profiles read the
    prices and bans of that moment (:func:`catalog_as_of`)."""
    catalog, scored = catalog_as_of(catalog or CatalogCache(mall), as_of_ms, settings, timeline)
    products = catalog.products
    scores = _platform_scores(mall, as_of_ms, settings, scored)
    ps = scores.products.reindex(products.product_id)
    p_cols = {
        "store_id": products.store_id.to_numpy().astype(np.int64),
        "category_id": products.category_id.to_numpy().astype(np.int64),
        "comparable_group_id": products.comparable_group_id.to_numpy().astype(np.int64),
        "brand_id": products.brand_id.to_numpy().astype(np.int64),
        "top_category_id": catalog.top_category_id,
        "price": products.price.to_numpy(),
        "list_price": products.list_price.to_numpy(),
        "subsidy": products.subsidy.to_numpy().astype(np.float32),
        "big_brand": catalog.big_brand.astype(np.float32),
        # the trust and offer attributes and subsidy depth (ranking.features.offer_features); the
        # subsidy channel reads authentic_guarantee and subsidy_depth too (ranking/recall/subsidy_channel.py)
        **{c: products[c].to_numpy().astype(np.float32) for c in OFFER_COLUMNS},
        "log_price_vs_category": catalog.log_price_vs_category.astype(np.float32),
        "stock": products.stock.to_numpy().astype(np.float32),
        "banned": products.banned.to_numpy().astype(np.float32),
        "demoted": _flag(ps, "demoted"),
        # not a feature: when each listing went live (epoch ms; ranking.live.new_products);
        # comparable_group_id above is what a live price change or a new listing is priced against
        "listed_at": products.listed_at.to_numpy().astype(np.float64),
    }
    for col in PRODUCT_SCORE_COLUMNS:
        p_cols[col] = ps[col].to_numpy().astype(np.float32)
    for col in COLD_START_COUNTS:  # not features: the scores' window counts cold start's posteriors read
        p_cols[col] = np.nan_to_num(ps[col].to_numpy()).astype(np.float32)
    stores = mall["stores"].sort_values("store_id")
    ss = scores.stores.reindex(stores.store_id)
    s_cols = {col: ss[col].to_numpy().astype(np.float32) for col in STORE_SCORE_COLUMNS}
    s_cols["demoted"] = _flag(ss, "demoted")
    opened = stores.opened_at.to_numpy()
    s_cols["opened_at"] = opened.astype(np.float64)  # not a feature: cold start's new stores
    s_cols["new_store"] = ((opened > as_of_ms - NEW_STORE_DAYS * DAY_MS) &
                           (opened <= as_of_ms)).astype(np.float32)

    users = mall["users"].sort_values("user_id")
    user_ids = users.user_id.to_numpy().astype(np.int64)
    profiles = _user_profiles(mall, catalog, user_ids, as_of_ms, settings)
    return FeatureSnapshot(
        as_of_ms=int(as_of_ms),
        products=EntityTable(products.product_id.to_numpy().astype(np.int64), p_cols),
        stores=EntityTable(stores.store_id.to_numpy().astype(np.int64), s_cols),
        users=EntityTable(user_ids, {c: profiles[c] for c in ("price_level", "big_brand_share",
                                                               "discount_taste")}),
        leaf_ids=catalog.leaf_ids,
        leaf_theme_slot=catalog.leaf_theme_slot,
        user_leaf_slot=profiles["leaf_slot"],
        user_leaf=profiles["leaf"],
        bought=profiles["bought"],
        bought_leaf=profiles["bought_leaf"],
        store_visits=profiles["store_visits"],
        text=catalog.text,
        meta={"as_of_ms": int(as_of_ms), "history_days": settings.training.history_days},
    )


def _user_profiles(mall: MallTables, catalog: CatalogCache, user_ids: np.ndarray, as_of_ms: int,
                   settings: Settings) -> dict:
    lo = as_of_ms - settings.training.history_days * DAY_MS
    frames = []
    for name, weight in (("clicks", 1.0), ("carts", 2.0), ("orders", 4.0)):
        ev = mall[name]
        ev = ev[(ev.timestamp < as_of_ms) & (ev.timestamp >= lo)]
        frames.append(pd.DataFrame({
            "user_id": ev.user_id.to_numpy(), "product_id": ev.product_id.to_numpy(),
            "timestamp": ev.timestamp.to_numpy(), "weight": weight,
            "units": ev.quantity.to_numpy() if name == "orders" else 0,
        }))
    it = pd.concat(frames, ignore_index=True)
    n_u, n_l = len(user_ids), len(catalog.leaf_ids)
    u_row = np.searchsorted(user_ids, it.user_id.to_numpy())
    u_ok = (u_row < n_u) & (user_ids[np.minimum(u_row, n_u - 1)] == it.user_id.to_numpy())
    p_index = np.searchsorted(catalog.products.product_id.to_numpy(), it.product_id.to_numpy())
    p_index = np.minimum(p_index, len(catalog.products) - 1)
    leaf = catalog.product_leaf[p_index]
    ok = u_ok & (leaf >= 0)
    u_row, leaf, p_index = u_row[ok], leaf[ok], p_index[ok]
    w = it.weight.to_numpy()[ok]
    units = it.units.to_numpy()[ok].astype(np.float32)
    slot = local_hour(it.timestamp.to_numpy()[ok], settings.mall.timezone)
    slot = np.where((slot >= 6) & (slot < 12), 0, np.where((slot >= 12) & (slot < 18), 1, 2))

    # one bincount over the flat (user, leaf, slot) cell: np.add.at was most of a profile's time
    cell = (u_row.astype(np.int64) * n_l + leaf) * 3 + slot
    counts = np.bincount(cell, weights=w, minlength=n_u * n_l * 3).astype(np.float32).reshape(n_u, n_l, 3)
    prior_ls = counts.sum(axis=0) + 1.0
    prior_ls /= prior_ls.sum(axis=0, keepdims=True)  # (L, 3) mall-wide share per slot
    totals = counts.sum(axis=1, keepdims=True)  # (U, 1, 3)
    leaf_slot = (counts + SMOOTHING * prior_ls[None]) / (totals + SMOOTHING)
    by_leaf = counts.sum(axis=2)
    prior_l = by_leaf.sum(axis=0) + 1.0
    prior_l /= prior_l.sum()
    leaf_share = (by_leaf + SMOOTHING * prior_l[None]) / (by_leaf.sum(axis=1, keepdims=True) + SMOOTHING)

    rel = catalog.log_price_vs_category[p_index]
    num = np.bincount(u_row, weights=w * rel, minlength=n_u)
    den = np.bincount(u_row, weights=w, minlength=n_u)
    price_level = np.where(den > 0, num / np.maximum(den, 1e-9), np.nan).astype(np.float32)

    # brand affinity and price sensitivity proxies, shrunk toward the mall's mean
    big = catalog.big_brand[p_index].astype(np.float64)
    mall_big = float((w * big).sum() / max(w.sum(), 1e-9)) if len(w) else 0.0
    big_share = (np.bincount(u_row, weights=w * big, minlength=n_u) + SMOOTHING * mall_big) / (
        den + SMOOTHING)
    price = catalog.products.price.to_numpy()[p_index]
    listed = np.maximum(catalog.products.list_price.to_numpy()[p_index], 1e-9)
    discount = 1.0 - price / listed
    mall_discount = float((w * discount).sum() / max(w.sum(), 1e-9)) if len(w) else 0.0
    discount_taste = (np.bincount(u_row, weights=w * (discount - mall_discount), minlength=n_u)) / (
        den + SMOOTHING)

    is_order = units > 0
    n_p = len(catalog.products)
    store_row = np.searchsorted(
        np.sort(mall["stores"].store_id.to_numpy()), catalog.products.store_id.to_numpy()[p_index]
    )
    return {
        "leaf_slot": leaf_slot.astype(np.float32),
        "leaf": leaf_share.astype(np.float32),
        "price_level": price_level,
        "big_brand_share": big_share.astype(np.float32),
        "discount_taste": discount_taste.astype(np.float32),
        "bought": PairSet.build(u_row[is_order], p_index[is_order], units[is_order], n_p),
        "bought_leaf": PairSet.build(u_row[is_order], leaf[is_order],
                                     np.ones(is_order.sum(), np.float32), n_l),
        "store_visits": PairSet.build(u_row, store_row, w.astype(np.float32),
                                      len(mall["stores"]) + 1),
    }
