"""Personal features: what this user has shown interest in (category at this hour, price
level, products, stores), from the snapshot's user profiles."""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature
from ranking.features.snapshot import PairSet


def _known(x: FeatureInputs) -> np.ndarray:
    return (x.user_row >= 0) & (x.leaf >= 0)


def _user_leaves(x: FeatureInputs, table: np.ndarray) -> np.ndarray:
    """Each candidate's value of ``table`` (per user row, then per leaf: ``user_leaf`` or one time
    slot of ``user_leaf_slot``), NaN where the user or the leaf is unknown. A served page (one
    request: one user) reads its user's row once and takes each candidate's leaf from it instead of
    indexing the table per candidate: the same float32 values."""
    if x.one_request and x.n:
        user = int(x.user_row[0])
        if user < 0:  # as ``np.where`` makes it below: the table's dtype
            return np.full(x.n, np.nan, dtype=np.result_type(table.dtype, np.float32))
        return np.where(x.leaf >= 0, table[user][np.maximum(x.leaf, 0)], np.nan)
    return np.where(_known(x), table[np.maximum(x.user_row, 0), np.maximum(x.leaf, 0)], np.nan)


def _pairs(x: FeatureInputs, pairs: PairSet, b: np.ndarray) -> np.ndarray:
    """``pairs.lookup(x.user_row, b)``; a served page's one user read as one (no scan for it)."""
    if x.one_request and x.n:
        return pairs.lookup_one(int(x.user_row[0]), b)
    return pairs.lookup(x.user_row, b)


@feature("category_affinity_now", "personal",
         "user's smoothed share of interest in this category in the current time slot",
         label="shopper's interest in this category at this hour", unit="percent")
def category_affinity_now(x: FeatureInputs) -> np.ndarray:
    s = x.snapshot.user_leaf_slot
    if s.shape[0] == 0:
        return np.full(x.n, np.nan)
    if x.one_request and x.n:  # one slot: its (U, L) plane
        return _user_leaves(x, s[:, :, int(x.slot[0])])
    v = s[np.maximum(x.user_row, 0), np.maximum(x.leaf, 0), x.slot]
    return np.where(_known(x), v, np.nan)


@feature("category_affinity", "personal", "user's smoothed share of interest in this category",
         label="shopper's interest in this category", unit="percent")
def category_affinity(x: FeatureInputs) -> np.ndarray:
    s = x.snapshot.user_leaf
    if s.shape[0] == 0:
        return np.full(x.n, np.nan)
    return _user_leaves(x, s)


@feature("price_band_fit", "personal",
         "minus the gap between the product's relative price and the user's usual one",
         label="fits the shopper's usual price band", unit="number")
def price_band_fit(x: FeatureInputs) -> np.ndarray:
    usual = x.column("users", "price_level")
    rel = x.product_column("log_price_vs_category")
    return -np.abs(rel - usual)


@feature("bought_before", "personal", "log(1 + units of this product the user bought)",
         default=0.0,
         label="units the shopper bought before", unit="log1p_count")
def bought_before(x: FeatureInputs) -> np.ndarray:
    return np.log1p(_pairs(x, x.snapshot.bought, x.product_row))


@feature("bought_category_before", "personal",
         "log(1 + the user's orders in this category): repurchase of consumables", default=0.0,
         label="shopper's orders in this category", unit="log1p_count")
def bought_category_before(x: FeatureInputs) -> np.ndarray:
    return np.log1p(_pairs(x, x.snapshot.bought_leaf, x.leaf))


@feature("store_affinity", "personal",
         "log(1 + the user's weighted clicks, carts and orders at this store)", default=0.0,
         label="shopper's visits to this store (weighted)", unit="log1p_count")
def store_affinity(x: FeatureInputs) -> np.ndarray:
    return np.log1p(_pairs(x, x.snapshot.store_visits, x.store_row))


@feature("user_big_brand_share", "personal",
         "share of the user's clicks, carts and orders on big brands (smoothed): brand affinity",
         label="shopper's big-brand share", unit="percent")
def user_big_brand_share(x: FeatureInputs) -> np.ndarray:
    if "big_brand_share" not in x.snapshot.users.columns:
        return np.full(x.n, np.nan)
    return x.column("users", "big_brand_share")


@feature("user_discount_taste", "personal",
         "mean discount of what the user chose minus the mall's mean (smoothed): price sensitivity",
         label="shopper's taste for discounts (vs the mall)", unit="signed_percent")
def user_discount_taste(x: FeatureInputs) -> np.ndarray:
    if "discount_taste" not in x.snapshot.users.columns:
        return np.full(x.n, np.nan)
    return x.column("users", "discount_taste")
