"""How simulated shoppers behave: examination, clicks, carts and purchases.

One model serves both the session simulator (which draws events from it) and the oracle
(:mod:`training.simulator.truth`, which returns its probabilities), so the truth an
evaluator scores against is exactly the process that generated the logs.

For a card of product *i* shown to user *u* at hour *h* on surface *s* (query *q* on
search), at position *p*:

* examination  ``e(p, s) = p ** -eta_s``  (eta: search 0.7, homepage and channel 0.5)
* interest     search: ``2.5 [leaf = q.leaf] + 1.0 [same top category, other leaf]
  + 1.0 [brand = q.brand] - 2.0``;
  homepage/channel: ``clip(log(L * a_u,h(leaf)), -3, 2)`` where ``a_u,h`` is the user's
  category taste with time-slot theme categories boosted x2.5 in their slot
* click logit  ``-2.4 + interest + 0.8 appeal + 0.6 (info - 0.5) + 1.0 discount
  + 0.3 subsidy`` (discount = 1 - price / list price: what the card shows)
* utility      ``-2.0 + 0.4 interest + 3.0 qs_u (quality - 0.55)
  - 4.0 ps_u log(price / market price) + 2.0 (reliability - 0.6)
  + 0.8 ba_u [big brand] + 0.3 subsidy`` (qs, ps, ba: the user's quality sensitivity,
  price sensitivity and brand affinity; reliability: 0.5 logistics speed + 0.3 service
  quality + 0.2 stability of the store)
* P(cart | click) = P(order | cart) = ``sigmoid(utility + 0.5)``
* mission      within a multi-page session the shopper shops for one leaf now (the
  session's mission, :mod:`training.simulator.sessions`): ``m_j [leaf = mission]
  + sibling_share m_j [same top category, other leaf]`` is added to the interest on every
  surface, where ``m_j = mission_boost 0.5 ** (j / half_life_pages)`` on the session's page
  ``j`` (0-based); ``m_j`` is 0 off a session (the oracle's default)
* offers       the trust and offer attributes (:mod:`training.simulator.offers`), each term
  times ``k = offer_effect`` (1 by default, 0 switches them off):
  click logit ``+ 0.1 k [free shipping]``; utility ``+ k (0.1 [free shipping]
  + 0.3 ra_u [freight insurance] + 0.2 ra_u [7-day returns]
  + 0.3 ba_u [big brand] [authenticity guarantee] + 0.4 ps_u x_i [pay later])``
  (ra: the user's risk aversion; x_i = clip(log10(price) - 2, 0, 1), how expensive the
  item is); a multi-item discount on a consumable raises the quantity ordered
  (``1 + Poisson(0.5 + 0.4 [multi-item discount])`` instead of ``1 + Poisson(0.5)``)
* creators     ``+ creator_lift * pull_i`` on both the click logit and the utility, with
  ``pull_i`` = max(0, 2 (r - 0.5)) of the best creator featuring the product (r: the mean
  of its latent content quality, judgement and conduct; 0 when none:
  :mod:`training.simulator.creators`); the oracle includes it (``truth/products.parquet``
  ``creator_pull``)
* loyalty      ``+ loyalty_bond_weight * l_u * b_u,store`` on the utility: the shopper's
  latent loyalty times the bond their past orders at the store built
  (:mod:`training.simulator.loyalty`); the oracle leaves it out (it values a card for a
  shopper with no history at the store)

The oracle's gain is ``P(order | examined) = sigmoid(click logit) * sigmoid(u + 0.5)^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.badges import ATTRIBUTE_BADGES
from training.simulator.loyalty import Bonds

EXAMINATION_DECAY = np.array([0.7, 0.5, 0.5])
OFFER_NAMES = ATTRIBUTE_BADGES  # the trust and offer attributes, one product column each
THEME_BOOST = 2.5


def mission_strength(page: np.ndarray, boost: float, half_life_pages: float) -> np.ndarray:
    """The mission's pull on a session's page ``page`` (0-based): it fades by half every
    ``half_life_pages`` pages."""
    return boost * np.power(0.5, np.asarray(page, dtype=np.float64) / half_life_pages)


def expensive(price: np.ndarray) -> np.ndarray:
    """How expensive an item feels, 0 under 100 yuan rising to 1 at 1,000 and above (where
    pay later matters)."""
    return np.clip(np.log10(np.maximum(np.asarray(price, dtype=np.float64), 1.0)) - 2.0, 0.0, 1.0)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def examination(position: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """Probability a card at a 1-based position is looked at, per surface code."""
    return np.power(np.asarray(position, dtype=np.float64), -EXAMINATION_DECAY[surface])


def slot_of_hour(hour: np.ndarray) -> np.ndarray:
    """0 morning (06-12), 1 afternoon (12-18), 2 evening (18-06)."""
    h = np.asarray(hour)
    return np.where((h >= 6) & (h < 12), 0, np.where((h >= 12) & (h < 18), 1, 2))


@dataclass
class BehaviourModel:
    """The arrays the behaviour model reads; index = id for products, stores and users."""

    leaf_top: np.ndarray
    leaf_theme_slot: np.ndarray
    product_leaf: np.ndarray
    product_brand: np.ndarray
    product_big_brand: np.ndarray
    product_store: np.ndarray
    product_price: np.ndarray
    product_list_price: np.ndarray
    product_subsidy: np.ndarray
    product_quality: np.ndarray
    product_info: np.ndarray
    product_appeal: np.ndarray
    product_market_price: np.ndarray
    store_reliability: np.ndarray
    user_affinity: np.ndarray
    user_price_sensitivity: np.ndarray
    user_quality_sensitivity: np.ndarray
    user_brand_affinity: np.ndarray
    mission_sibling_share: float
    # the trust and offer attributes (badge code -> (P,) bool) and the users' risk aversion;
    # None: a mall without them (every term 0)
    product_offers: dict[str, np.ndarray] | None = None
    user_risk_aversion: np.ndarray | None = None
    offer_effect: float = 1.0
    product_creator_pull: np.ndarray | None = None  # (P,) 0-1 (training.simulator.creators)
    creator_lift: float = 0.0
    bonds: Bonds | None = None  # user-store loyalty (training.simulator.loyalty); None: none

    def __post_init__(self) -> None:
        n_p = len(self.product_leaf)
        offers = self.product_offers or {}
        self._offer = {name: np.asarray(offers.get(name, np.zeros(n_p, bool)), dtype=np.float64)
                       for name in OFFER_NAMES}
        if self.user_risk_aversion is None:
            self.user_risk_aversion = np.zeros(len(self.user_affinity))
        self._expensive = expensive(self.product_price)
        n_leaves = len(self.leaf_top)
        boost = np.ones((n_leaves, 3))
        for slot in range(3):
            boost[self.leaf_theme_slot == slot, slot] = THEME_BOOST
        self._boost = boost
        self._norm = self.user_affinity.astype(np.float64) @ boost  # (U, 3)

    def hour_affinity(self, users: np.ndarray, leaves: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """The user's taste for a leaf category at this time slot (sums to 1 over leaves)."""
        a = self.user_affinity[users, leaves] * self._boost[leaves, slots]
        return a / self._norm[users, slots]

    def leaf_choice_probabilities(self, users: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """(n, L) probabilities of the leaf a user looks for at a time slot."""
        a = self.user_affinity[users] * self._boost[:, slots].T
        return a / a.sum(axis=1, keepdims=True)

    def interest(
        self,
        users: np.ndarray,
        products: np.ndarray,
        slots: np.ndarray,
        surfaces: np.ndarray,
        query_leaf: np.ndarray,
        query_brand: np.ndarray,
        mission_leaf: np.ndarray | None = None,
        mission_strength: np.ndarray | None = None,
    ) -> np.ndarray:
        """How much the user wants this product right now (search: query relevance), plus
        the session mission's pull (``mission_leaf`` -1 or ``mission_strength`` 0: none)."""
        leaf = self.product_leaf[products]
        n_leaves = len(self.leaf_top)
        taste = np.log(n_leaves * self.hour_affinity(users, leaf, slots) + 1e-12)
        browse = np.clip(taste, -3.0, 2.0)
        qleaf = np.where(query_leaf >= 0, query_leaf, 0)
        same_leaf = leaf == query_leaf
        same_top = (self.leaf_top[leaf] == self.leaf_top[qleaf]) & ~same_leaf
        brand_hit = (query_brand >= 0) & (self.product_brand[products] == query_brand)
        search = 2.5 * same_leaf + 1.0 * same_top + 1.0 * brand_hit - 2.0
        base = np.where(surfaces == 0, search, browse)
        if mission_leaf is None or mission_strength is None:
            return base
        return base + self.mission_pull(products, mission_leaf, mission_strength)

    def mission_pull(self, products: np.ndarray, mission_leaf: np.ndarray,
                     mission_strength: np.ndarray) -> np.ndarray:
        """The interest a session's mission adds to each card: its strength on the mission
        leaf, ``mission_sibling_share`` of it on the leaf's siblings, 0 elsewhere."""
        leaf = self.product_leaf[products]
        mission = np.asarray(mission_leaf)
        safe = np.where(mission >= 0, mission, 0)
        in_leaf = (leaf == mission) & (mission >= 0)
        sibling = (self.leaf_top[leaf] == self.leaf_top[safe]) & ~in_leaf & (mission >= 0)
        return np.asarray(mission_strength) * (in_leaf + self.mission_sibling_share * sibling)

    def click_logit(self, products: np.ndarray, interest: np.ndarray) -> np.ndarray:
        discount = 1.0 - self.product_price[products] / self.product_list_price[products]
        return (
            -2.4
            + interest
            + 0.8 * self.product_appeal[products]
            + 0.6 * (self.product_info[products] - 0.5)
            + 1.0 * discount
            + 0.3 * self.product_subsidy[products]
            + self.offer_effect * 0.1 * self._offer["free_shipping"][products]
            + self._creator_term(products)
        )

    def offer_utility(self, users: np.ndarray, products: np.ndarray) -> np.ndarray:
        """What the trust and offer attributes add to the purchase utility (module docstring)."""
        o = {name: flag[products] for name, flag in self._offer.items()}
        risk = self.user_risk_aversion[users]
        return self.offer_effect * (
            0.1 * o["free_shipping"]
            + 0.3 * risk * o["freight_insurance"]
            + 0.2 * risk * o["seven_day_returns"]
            + 0.3 * self.user_brand_affinity[users] * self.product_big_brand[products]
            * o["authentic_guarantee"]
            + 0.4 * self.user_price_sensitivity[users] * self._expensive[products] * o["pay_later"]
        )

    def set_offer(self, name: str, flags: np.ndarray) -> np.ndarray:
        """Replace one attribute's flags (a what-if: the oracle without it); return the old ones."""
        old = self._offer[name]
        self._offer[name] = np.asarray(flags, dtype=np.float64)
        return old

    def multi_item_quantity(self, products: np.ndarray) -> np.ndarray:
        """What a multi-item discount adds to the Poisson mean of a consumable's quantity."""
        return self.offer_effect * 0.4 * self._offer["multi_item_discount"][products]

    def _creator_term(self, products: np.ndarray) -> np.ndarray | float:
        if self.product_creator_pull is None or self.creator_lift == 0:
            return 0.0
        return self.creator_lift * self.product_creator_pull[products]

    def utility(self, users: np.ndarray, products: np.ndarray, interest: np.ndarray) -> np.ndarray:
        price_ratio = np.log(self.product_price[products] / self.product_market_price[products])
        return (
            -2.0
            + 0.4 * interest
            + 3.0 * self.user_quality_sensitivity[users] * (self.product_quality[products] - 0.55)
            - 4.0 * self.user_price_sensitivity[users] * price_ratio
            + 2.0 * (self.store_reliability[self.product_store[products]] - 0.6)
            + 0.8 * self.user_brand_affinity[users] * self.product_big_brand[products]
            + 0.3 * self.product_subsidy[products]
            + self.offer_utility(users, products)
            + self._creator_term(products)
            + (0.0 if self.bonds is None else self.bonds.utility(users, self.product_store[products]))
        )

    def probabilities(
        self,
        users: np.ndarray,
        products: np.ndarray,
        slots: np.ndarray,
        surfaces: np.ndarray,
        query_leaf: np.ndarray,
        query_brand: np.ndarray,
        mission_leaf: np.ndarray | None = None,
        mission_strength: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(P(click | examined), P(order | click)) for aligned arrays of cards."""
        it = self.interest(users, products, slots, surfaces, query_leaf, query_brand, mission_leaf,
                           mission_strength)
        p_click = sigmoid(self.click_logit(products, it))
        p_step = sigmoid(self.utility(users, products, it) + 0.5)
        return p_click, p_step * p_step
