"""The simulated mall's trust and offer attributes, subsidy depth and shoppers' risk aversion.

Each product gets the six trust and offer attributes a card shows as badges
(:data:`ranking.badges.ATTRIBUTE_BADGES`: free shipping, freight insurance, 7-day returns,
authenticity guarantee, pay later, multi-item discount) and, on the subsidy channel, its
``subsidy_depth``; each user a latent ``risk_aversion`` (written to ``truth/users.parquet``).
Who offers what is plausible rather than uniform (docs/offers.md):

* every attribute is likelier from a big brand and from a reliable store, rarer from a
  white label: ``logit = logit(rate) + 0.8 [big] - 0.6 [white label] + 2.0 (reliability - 0.65)``
* freight insurance and 7-day returns are likelier in apparel and digital (+1.0 logit),
  where fit and defects make returns common;
* the authenticity guarantee is mostly a big brand's (+1.5 logit more on a big brand);
* pay later follows the price: ``+ 1.2 log10(price / 200)``;
* a multi-item discount is a consumable's (+1.5 logit on one, -1.0 off one).

``subsidy_depth`` is the platform's share of the list price a subsidy product's discount
represents: the world priced it at 0.85 of its unsubsidised price, so the platform pays
``0.15 / 0.85 price / list price``.

The draws use their own random stream (``[seed, 11]``), so the rest of the world is drawn
exactly as before the attributes existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.badges import ATTRIBUTE_BADGES
from training.simulator.vocabulary import TREE
from training.simulator.world import World

SUBSIDY_PRICE_FACTOR = 0.85  # world.build_world: a subsidy product's price factor
RETURN_PRONE_TOPS = ("apparel", "digital")


@dataclass
class Offers:
    """Per product (index = product_id) each attribute flag and the subsidy depth; per user
    the latent risk aversion."""

    flags: dict[str, np.ndarray]  # badge code -> (P,) bool
    subsidy_depth: np.ndarray  # (P,) float in [0, 1]
    user_risk_aversion: np.ndarray  # (U,) float in [0, 1]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def draw_offers(world: World, rates: dict[str, float], seed: int) -> Offers:
    """The attributes of every product and the risk aversion of every user of ``world``;
    ``rates`` holds each attribute's base share (before the brand, store and category pulls)."""
    rng = np.random.default_rng([seed, 11])
    tier = world.brand_tier[world.product_brand]
    big, white = tier == 0, tier == 2
    reliability = world.store_reliability()[world.product_store]
    tops = np.array([top.en for top in TREE])[world.leaf_top[world.product_leaf]]
    return_prone = np.isin(tops, RETURN_PRONE_TOPS)
    consumable = world.leaf_consumable[world.product_leaf]
    common = 0.8 * big - 0.6 * white + 2.0 * (reliability - 0.65)
    extra = {
        "free_shipping": 0.0,
        "freight_insurance": 1.0 * return_prone,
        "seven_day_returns": 1.0 * return_prone,
        "authentic_guarantee": 1.5 * big,
        "pay_later": 1.2 * np.log10(world.product_price / 200.0),
        "multi_item_discount": np.where(consumable, 1.5, -1.0),
    }
    flags: dict[str, np.ndarray] = {}
    for name in ATTRIBUTE_BADGES:
        logit = _logit(rates[name]) + common + extra[name]
        flags[name] = (rng.random(world.n_products) < 1.0 / (1.0 + np.exp(-logit))) & ~world.product_banned
    paid = world.product_price * (1.0 / SUBSIDY_PRICE_FACTOR - 1.0)
    depth = np.where(world.product_subsidy, np.clip(paid / world.product_list_price, 0.0, 1.0), 0.0)
    risk = rng.beta(2.0, 2.0, size=len(world.user_region))
    return Offers(flags, depth, risk)

