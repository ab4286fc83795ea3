"""The simulated mall's catalog, people and latent truth, generated from one seed.

A :class:`World` holds numpy arrays, one entry per category, brand, store, product and
user, with both the observable attributes (written to the contract tables) and the
latent truth (written to ``truth/`` and used only by the behaviour model and the oracle).
The generative story is documented in ``docs/simulator.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from ranking.settings import ScaleShape
from training.simulator.vocabulary import (
    MODIFIERS_EN,
    MODIFIERS_ZH,
    REFERENCE_SOURCES,
    REGIONS,
    TREE,
    brand_names,
    leaves,
)

DAY_MS = 86_400_000
TIERS = ("big_brand", "native_fast_growing", "white_label")
TIER_SHARE = np.array([0.10, 0.30, 0.60])
TIER_PRICE = np.array([1.35, 1.0, 0.7])
TIER_QUALITY_MEAN = np.array([0.75, 0.62, 0.48])


@dataclass
class World:
    """Every entity of the mall as aligned numpy arrays (index = id for dense ids)."""

    start_ms: int
    days: int
    # categories: ids 1..T are the top-level categories, T+1..T+L the leaves
    leaf_category_id: np.ndarray  # (L,) category_id of each leaf
    leaf_top: np.ndarray  # (L,) top index of each leaf
    leaf_theme_slot: np.ndarray  # (L,) 0 morning, 1 afternoon, 2 evening, -1 none
    leaf_promised_days: np.ndarray  # (L,)
    leaf_consumable: np.ndarray  # (L,) bool
    # brands (index = brand_id)
    brand_name: list[str]
    brand_tier: np.ndarray  # (B,) 0 big, 1 native, 2 white label
    brand_top: np.ndarray  # (B,) top category the brand makes
    # stores (index = store_id)
    store_opened_ms: np.ndarray
    store_region: np.ndarray  # (S,) index into REGIONS
    store_top: np.ndarray
    store_logistics_speed: np.ndarray
    store_service_quality: np.ndarray
    store_stability: np.ndarray
    store_quality_control: np.ndarray
    store_is_new: np.ndarray
    # products (index = product_id), sorted by (leaf, brand)
    product_leaf: np.ndarray
    product_brand: np.ndarray
    product_store: np.ndarray
    product_group: np.ndarray
    product_title: list[str]
    product_attributes: np.ndarray
    product_images: np.ndarray
    product_price: np.ndarray
    product_list_price: np.ndarray
    product_stock: np.ndarray
    product_subsidy: np.ndarray
    product_banned: np.ndarray
    product_listed_ms: np.ndarray
    product_quality: np.ndarray
    product_info: np.ndarray
    product_appeal: np.ndarray
    product_popularity: np.ndarray  # the logging policy's "historical sales" signal
    product_market_price: np.ndarray  # the comparable item's fair market price
    # reference prices
    reference_group: np.ndarray
    reference_source: np.ndarray
    reference_price: np.ndarray
    reference_ms: np.ndarray
    # users (index = user_id)
    user_region: np.ndarray
    user_signup_ms: np.ndarray
    user_affinity: np.ndarray  # (U, L) float32, rows sum to 1
    user_price_sensitivity: np.ndarray
    user_quality_sensitivity: np.ndarray
    user_brand_affinity: np.ndarray
    user_language_en: np.ndarray  # bool
    user_activity: np.ndarray
    # store-day availability: False on days an unstable store is not trading
    store_day_open: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.days * DAY_MS

    @property
    def n_products(self) -> int:
        return len(self.product_leaf)

    def store_reliability(self) -> np.ndarray:
        """How well a store delivers on an order: what a buyer weighs before paying."""
        return (
            0.5 * self.store_logistics_speed
            + 0.3 * self.store_service_quality
            + 0.2 * self.store_stability
        )


def start_epoch_ms(start: date, tz_offset_ms: int) -> int:
    """UTC epoch ms of local midnight of ``start`` in a zone ``tz_offset_ms`` ahead of UTC."""
    midnight = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return int(midnight.timestamp() * 1000) - tz_offset_ms


def build_world(
    shape: ScaleShape, seed: int, start: date, new_store_share: float, tz_offset_ms: int
) -> World:
    """Generate the catalog, the people and their latent truth for one scale and seed."""
    rng = np.random.default_rng([seed, 0])
    start_ms = start_epoch_ms(start, tz_offset_ms)
    end_ms = start_ms + shape.days * DAY_MS
    leaf_list = leaves()
    n_tops = len(TREE)
    n_leaves = len(leaf_list)
    leaf_top = np.array([t for t, _, _ in leaf_list])
    slot_of = {"grains_oil": 0, "food_daily": 1, "digital": 2, "beauty": 2, "": -1}
    leaf_theme_slot = np.array([slot_of[top.theme] for _, top, _ in leaf_list])
    leaf_promised = np.array([top.promised_days for _, top, _ in leaf_list])
    leaf_consumable = np.array([top.consumable for _, top, _ in leaf_list])
    leaf_price = np.array([leaf.median_price for _, _, leaf in leaf_list])
    leaf_category_id = n_tops + 1 + np.arange(n_leaves)

    # brands: each makes one top category; tiers by share
    n_b = shape.brands
    brand_tier = rng.choice(3, size=n_b, p=TIER_SHARE)
    brand_top = rng.integers(0, n_tops, size=n_b)
    names = brand_names(n_b, rng)
    brand_quality = np.clip(rng.normal(TIER_QUALITY_MEAN[brand_tier], 0.08), 0.05, 0.98)
    brand_pull = rng.lognormal(0.0, 0.8, size=n_b) * np.array([4.0, 1.5, 1.0])[brand_tier]

    # stores: latent operating truth; a share opened in the last 14 days
    n_s = shape.stores
    store_is_new = rng.random(n_s) < new_store_share
    opened = np.where(
        store_is_new,
        end_ms - rng.integers(1, 14 * DAY_MS, size=n_s),
        start_ms - rng.integers(30 * DAY_MS, 1500 * DAY_MS, size=n_s),
    )
    store_top = rng.integers(0, n_tops, size=n_s)
    logistics = rng.beta(4, 2, size=n_s)
    service = rng.beta(3, 2, size=n_s)
    stability = rng.beta(5, 2, size=n_s)
    quality_control = rng.beta(4, 2, size=n_s)
    unavailable_p = 0.45 * (1 - stability) ** 2
    store_day_open = rng.random((n_s, shape.days)) >= unavailable_p[:, None]

    # comparable groups: one item (leaf, brand, quality, market price) sold by 1..k stores
    n_p = shape.products
    sizes = 1 + rng.poisson(1.2, size=n_p)
    cut = np.searchsorted(np.cumsum(sizes), n_p)
    sizes = sizes[: cut + 1]
    sizes[-1] -= sizes.sum() - n_p
    n_g = len(sizes)
    group_brand = rng.integers(0, n_b, size=n_g)
    leaf_of_top = [np.flatnonzero(leaf_top == t) for t in range(n_tops)]
    tops = brand_top[group_brand]
    group_leaf = np.empty(n_g, dtype=np.int64)
    for t in range(n_tops):
        members = np.flatnonzero(tops == t)
        group_leaf[members] = rng.choice(leaf_of_top[t], size=len(members))
    group_quality = np.clip(brand_quality[group_brand] + rng.normal(0, 0.1, size=n_g), 0.02, 0.99)
    group_market = (
        leaf_price[group_leaf]
        * TIER_PRICE[brand_tier[group_brand]]
        * rng.lognormal(0.0, 0.35, size=n_g)
        * (0.8 + 0.4 * group_quality)
    )
    group_spec = rng.integers(0, 3, size=n_g)
    group_mods = rng.integers(0, len(MODIFIERS_ZH), size=(n_g, 3))

    # listings: each group member is sold by a store of the group's top category
    product_group = np.repeat(np.arange(n_g), sizes)
    p_top = leaf_top[group_leaf[product_group]]
    stores_of_top = [np.flatnonzero(store_top == t) for t in range(n_tops)]
    store_weight = rng.lognormal(0, 1.0, size=n_s)
    product_store = np.empty(n_p, dtype=np.int64)
    for t in range(n_tops):
        members = np.flatnonzero(p_top == t)
        pool = stores_of_top[t] if len(stores_of_top[t]) else np.arange(n_s)
        w = store_weight[pool] / store_weight[pool].sum()
        product_store[members] = rng.choice(pool, size=len(members), p=w)
    # order products by (leaf, brand) so each leaf and (leaf, brand) is a contiguous run
    p_leaf = group_leaf[product_group]
    p_brand = group_brand[product_group]
    order = np.lexsort((product_store, p_brand, p_leaf))
    product_group, product_store = product_group[order], product_store[order]
    p_leaf, p_brand = p_leaf[order], p_brand[order]

    markup = rng.lognormal(0.0, 0.15, size=n_p)
    quality = np.clip(
        group_quality[product_group]
        + 0.3 * (quality_control[product_store] - 0.67)
        + rng.normal(0, 0.05, size=n_p),
        0.01,
        0.99,
    )
    info = rng.beta(3, 2, size=n_p)
    banned = rng.random(n_p) < 0.005
    quality = np.where(banned, np.minimum(quality, 0.15), quality)
    big = brand_tier[p_brand] == 0
    subsidy = big & (rng.random(n_p) < 0.35) & ~banned
    market = group_market[product_group]
    price = market * markup * np.where(subsidy, 0.85, 1.0)
    price = np.round(np.maximum(price, 1.0), 1)
    list_price = np.round(price * (1.0 + rng.uniform(0.0, 0.6, size=n_p)), 0)
    list_price = np.maximum(list_price, price)
    attributes = rng.binomial(12, info).astype(np.int16)
    images = (1 + rng.binomial(8, info)).astype(np.int16)
    stock = np.where(rng.random(n_p) < 0.03, 0, 1 + rng.poisson(200, size=n_p)).astype(np.int32)
    listed = np.maximum(
        opened[product_store], start_ms - rng.integers(0, 400 * DAY_MS, size=n_p)
    )
    listed = np.where(store_is_new[product_store], opened[product_store] + rng.integers(
        0, DAY_MS, size=n_p), listed)
    appeal = rng.normal(0.0, 0.35, size=n_p) + 0.25 * (images - 5) / 4
    popularity = (
        brand_pull[p_brand]
        * rng.lognormal(0.0, 0.7, size=n_p)
        * np.where(store_is_new[product_store], 0.15, 1.0)
    )
    english = rng.random(n_p) < 0.4
    titles = _titles(p_leaf, p_brand, product_group, english, info, group_spec, group_mods,
                     names, rng)

    # outside reference prices for ~60% of comparable groups
    observed = np.flatnonzero(rng.random(n_g) < 0.6)
    counts = rng.integers(1, 4, size=len(observed))
    ref_group = np.repeat(observed, counts)
    ref_price = np.round(group_market[ref_group] * rng.lognormal(0.05, 0.1, size=len(ref_group)), 1)
    ref_source = rng.integers(0, len(REFERENCE_SOURCES), size=len(ref_group))
    ref_ms = start_ms + rng.integers(0, shape.days * DAY_MS, size=len(ref_group))

    # users: category taste (Dirichlet over tops, then leaves), sensitivities, language
    n_u = shape.users
    top_taste = rng.dirichlet(np.full(n_tops, 0.35), size=n_u)
    leaf_taste = rng.gamma(2.0, 1.0, size=(n_u, n_leaves))
    affinity = top_taste[:, leaf_top] * leaf_taste
    affinity /= affinity.sum(axis=1, keepdims=True)
    user_signup = start_ms - rng.integers(0, 1000 * DAY_MS, size=n_u)

    return World(
        start_ms=start_ms,
        days=shape.days,
        leaf_category_id=leaf_category_id,
        leaf_top=leaf_top,
        leaf_theme_slot=leaf_theme_slot,
        leaf_promised_days=leaf_promised,
        leaf_consumable=leaf_consumable,
        brand_name=names,
        brand_tier=brand_tier,
        brand_top=brand_top,
        store_opened_ms=opened,
        store_region=rng.integers(0, len(REGIONS), size=n_s),
        store_top=store_top,
        store_logistics_speed=logistics,
        store_service_quality=service,
        store_stability=stability,
        store_quality_control=quality_control,
        store_is_new=store_is_new,
        product_leaf=p_leaf,
        product_brand=p_brand,
        product_store=product_store,
        product_group=product_group,
        product_title=titles,
        product_attributes=attributes,
        product_images=images,
        product_price=price,
        product_list_price=list_price,
        product_stock=stock,
        product_subsidy=subsidy,
        product_banned=banned,
        product_listed_ms=np.minimum(listed, end_ms - 1),
        product_quality=quality,
        product_info=info,
        product_appeal=appeal,
        product_popularity=popularity,
        product_market_price=market,
        reference_group=ref_group,
        reference_source=ref_source,
        reference_price=ref_price,
        reference_ms=ref_ms,
        user_region=rng.integers(0, len(REGIONS), size=n_u),
        user_signup_ms=user_signup,
        user_affinity=affinity.astype(np.float32),
        user_price_sensitivity=rng.beta(2, 2, size=n_u),
        user_quality_sensitivity=rng.beta(2, 2, size=n_u),
        user_brand_affinity=rng.beta(2, 3, size=n_u),
        user_language_en=rng.random(n_u) < 0.3,
        user_activity=rng.lognormal(0.0, 1.0, size=n_u),
        store_day_open=store_day_open,
    )


def _titles(
    leaf: np.ndarray,
    brand: np.ndarray,
    group: np.ndarray,
    english: np.ndarray,
    info: np.ndarray,
    group_spec: np.ndarray,
    group_mods: np.ndarray,
    names: list[str],
    rng: np.random.Generator,
) -> list[str]:
    """Listing titles: brand, 0-3 modifiers (more for complete listings), noun, spec."""
    leaf_words = [(lf.zh, lf.en, lf.specs) for _, _, lf in leaves()]
    n_mods = np.minimum(3, rng.binomial(3, info) + (info > 0.8))
    out: list[str] = []
    for i in range(len(leaf)):
        zh, en, specs = leaf_words[leaf[i]]
        g = group[i]
        k = n_mods[i]
        spec = specs[group_spec[g]]
        if english[i]:
            mods = " ".join(MODIFIERS_EN[m] for m in group_mods[g, :k])
            parts = [names[brand[i]], mods, en, spec]
            out.append(" ".join(p for p in parts if p))
        else:
            mods = "".join(MODIFIERS_ZH[m] for m in group_mods[g, :k])
            out.append(f"{names[brand[i]]} {mods}{zh} {spec}")
    return out
