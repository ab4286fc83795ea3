"""Shopping sessions: who comes when, what they look for, what the logging policy shows.

Each session is one ranking request on one surface. Recall draws
``candidates_per_request`` products (search: mostly the query's leaf category and brand;
homepage: categories the user likes at this hour; channel: the big-brand subsidy
channel), drops the ones that cannot be shown (banned, out of stock, not yet listed,
store not trading that day), and the *logging policy* ranks them:

``score = 1.2 text_match + 0.5 log(historical popularity) + 1.0 discount + 0.3 big_brand
+ 0.8 log(L * long-term category taste)`` (homepage/channel) ``+ N(0, 0.4)``

with ``text_match = [leaf = query leaf] + 0.5 [brand = query brand]`` on search. On a
``randomised_share`` of requests whose top ``R = randomised_top`` slots are all filled,
those slots are shuffled uniformly; every impression logs its propensity
``(1 - eps) [shown slot = policy slot] + eps / R`` for policy slots <= R, else 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.surfaces import SURFACE_CODES
from training.simulator.behaviour import (
    BehaviourModel,
    examination,
    slot_of_hour,
)
from training.simulator.world import DAY_MS, World

HOUR_PROFILE = np.array(
    [2, 1, 0.6, 0.4, 0.4, 0.6, 1.5, 3, 4.5, 5, 5, 5, 5.5, 4.5, 4, 4, 4.5, 5, 5.5, 6.5, 7.5, 8,
     6.5, 4]
)


class SegmentSampler:
    """Weighted draws of products from contiguous segments (e.g. one leaf category)."""

    def __init__(self, keys: np.ndarray, products: np.ndarray, weights: np.ndarray) -> None:
        self.keys = keys  # sorted ascending, aligned with products
        self.products = products
        cum = np.cumsum(weights, dtype=np.float64)
        self.cum = cum
        self.before = np.concatenate([[0.0], cum])

    def sample(self, segments: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One product per (segment, uniform draw); -1 where the segment is empty."""
        start = np.searchsorted(self.keys, segments, side="left")
        end = np.searchsorted(self.keys, segments, side="right")
        lo, hi = self.before[start], self.before[end]
        x = lo + u * (hi - lo)
        idx = np.searchsorted(self.cum, x, side="right")
        idx = np.clip(idx, start, np.maximum(end - 1, start))
        empty = end <= start
        out = self.products[np.minimum(idx, len(self.products) - 1)]
        return np.where(empty, -1, out)


@dataclass
class SessionPlan:
    """Every session's time, user and surface, in time order."""

    ts_ms: np.ndarray
    user: np.ndarray
    surface: np.ndarray


def plan_sessions(world: World, n_sessions: int, shares: dict[str, float], seed: int) -> SessionPlan:
    """Draw when each session happens, who it is, and on which surface, sorted by time."""
    rng = np.random.default_rng([seed, 1])
    activity = world.user_activity / world.user_activity.sum()
    user = rng.choice(len(activity), size=n_sessions, p=activity)
    day = rng.integers(0, world.days, size=n_sessions)
    hour = rng.choice(24, size=n_sessions, p=HOUR_PROFILE / HOUR_PROFILE.sum())
    within = rng.integers(0, 3_600_000, size=n_sessions)
    ts = world.start_ms + day * DAY_MS + hour * 3_600_000 + within
    names = list(SURFACE_CODES)
    p = np.array([shares.get(n, 0.0) for n in names])
    surface = rng.choice(len(names), size=n_sessions, p=p / p.sum())
    order = np.argsort(ts, kind="stable")
    return SessionPlan(ts[order], user[order], surface[order])


@dataclass
class ChunkEvents:
    """The events of one chunk of sessions, as aligned arrays per table."""

    impressions: dict[str, np.ndarray]
    clicks: dict[str, np.ndarray]
    carts: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    query_combo: np.ndarray  # per search session: its query's combo key (see QueryBook)


class SessionSimulator:
    """Runs chunks of sessions through recall, the logging policy and the behaviour model."""

    def __init__(self, world: World, model: BehaviourModel, settings, tz_offset_ms: int) -> None:
        self.w = world
        self.m = model
        self.s = settings
        self.tz = tz_offset_ms
        n_b = len(world.brand_name)
        self.n_brands = n_b
        n_p = world.n_products
        ids = np.arange(n_p)
        weight = world.product_popularity
        self.by_leaf = SegmentSampler(world.product_leaf, ids, weight)
        key = world.product_leaf.astype(np.int64) * n_b + world.product_brand
        self.by_leaf_brand = SegmentSampler(key, ids, weight)
        sub = np.flatnonzero(world.product_subsidy)
        if len(sub) == 0:
            sub = ids
        self.subsidy_by_leaf = SegmentSampler(world.product_leaf[sub], sub, weight[sub])
        self.subsidy_any = SegmentSampler(np.zeros(len(sub), np.int64), sub, weight[sub])
        self.anything = SegmentSampler(np.zeros(n_p, np.int64), ids, np.ones(n_p))
        self.big = world.brand_tier[world.product_brand] == 0
        self.log_pop = np.log(world.product_popularity)
        self.discount = 1.0 - world.product_price / world.product_list_price
        self.n_leaves = len(world.leaf_top)
        self.leaves_of_top = [np.flatnonzero(world.leaf_top == t) for t in range(world.leaf_top.max() + 1)]

    def run_chunk(self, plan: SessionPlan, lo: int, hi: int, request_base: int, order_base: int,
                  rng: np.random.Generator) -> ChunkEvents:
        w, m, s = self.w, self.m, self.s
        n = hi - lo
        ts = plan.ts_ms[lo:hi]
        user = plan.user[lo:hi]
        surface = plan.surface[lo:hi]
        hour = ((ts + self.tz) // 3_600_000) % 24
        slot = slot_of_hour(hour)
        day = np.clip((ts - w.start_ms) // DAY_MS, 0, w.days - 1)
        request_id = request_base + np.arange(n, dtype=np.int64)

        # what each session looks for: the leaf (by taste at this hour), maybe a brand
        probs = m.leaf_choice_probabilities(user, slot)
        cum = np.cumsum(probs, axis=1)
        u = rng.random(n)[:, None]
        intent_leaf = np.minimum((cum < u).sum(axis=1), self.n_leaves - 1)
        is_search = surface == 0
        brand_pick = self.by_leaf.sample(intent_leaf, rng.random(n))
        want_brand = is_search & (rng.random(n) < 0.3) & (brand_pick >= 0)
        q_brand = np.where(want_brand, w.product_brand[np.maximum(brand_pick, 0)], -1)
        q_leaf = np.where(is_search, intent_leaf, -1)
        modifier = np.where(rng.random(n) < 0.3, rng.integers(0, 15, size=n), -1)
        english = w.user_language_en[user] ^ (rng.random(n) < 0.1)
        combo = QueryBook.combo(q_leaf, q_brand, modifier, english, self.n_brands)

        # recall: candidates per session
        k = s.candidates_per_request
        cand = self._recall(n, k, surface, user, slot, intent_leaf, q_brand, rng)
        flat = cand.ravel()
        valid = flat >= 0
        safe = np.where(valid, flat, 0)
        rep_day = np.repeat(day, k)
        rep_ts = np.repeat(ts, k)
        valid &= ~w.product_banned[safe] & (w.product_stock[safe] > 0)
        valid &= w.product_listed_ms[safe] <= rep_ts
        valid &= w.store_day_open[w.product_store[safe], rep_day]
        cand = np.where(valid, flat, -1).reshape(n, k)
        # duplicates within a request count once
        sorted_c = np.sort(cand, axis=1)
        dup_sorted = np.zeros_like(sorted_c, dtype=bool)
        dup_sorted[:, 1:] = sorted_c[:, 1:] == sorted_c[:, :-1]
        sorted_c = np.where(dup_sorted, -1, sorted_c)
        cand = sorted_c

        # the logging policy
        safe = np.maximum(cand, 0)
        leaf = w.product_leaf[safe]
        text = np.where(
            is_search[:, None],
            1.0 * (leaf == q_leaf[:, None]) + 0.5 * (w.product_brand[safe] == q_brand[:, None]),
            0.0,
        )
        taste = np.log(self.n_leaves * w.user_affinity[user[:, None], leaf] + 1e-9)
        personal = np.where(is_search[:, None], 0.0, 0.8 * np.clip(taste, -3, 2))
        score = (
            1.2 * text
            + 0.5 * self.log_pop[safe]
            + 1.0 * self.discount[safe]
            + 0.3 * self.big[safe]
            + personal
            + rng.normal(0.0, 0.4, size=cand.shape)
        )
        score = np.where(cand >= 0, score, -np.inf)
        order = np.argsort(-score, axis=1, kind="stable")
        page = np.where(is_search, s.page_size_search, s.page_size_homepage)
        width = int(page.max())
        ranked = np.take_along_axis(cand, order[:, :width], axis=1)
        n_valid = (ranked >= 0).sum(axis=1)
        r = s.randomised_top
        eps = s.randomised_share
        eligible = n_valid >= r
        shuffled = eligible & (rng.random(n) < eps)
        perm = np.argsort(rng.random((n, r)), axis=1)
        policy_slot = np.tile(np.arange(width), (n, 1))
        top = np.take_along_axis(ranked[:, :r], perm, axis=1)
        top_slot = perm
        ranked[:, :r] = np.where(shuffled[:, None], top, ranked[:, :r])
        policy_slot[:, :r] = np.where(shuffled[:, None], top_slot, policy_slot[:, :r])
        shown_slot = np.tile(np.arange(width), (n, 1))
        propensity = np.where(
            eligible[:, None] & (policy_slot < r),
            (1 - eps) * (policy_slot == shown_slot) + eps / r,
            1.0,
        )
        shown = (ranked >= 0) & (shown_slot < page[:, None])

        # behaviour on every shown card
        rows, cols = np.nonzero(shown)
        prod = ranked[rows, cols]
        position = cols + 1
        surf = surface[rows]
        usr = user[rows]
        p_click, p_order_given_click = m.probabilities(
            usr, prod, slot[rows], surf, q_leaf[rows], q_brand[rows]
        )
        examined = rng.random(len(prod)) < examination(position, surf)
        clicked = examined & (rng.random(len(prod)) < p_click)
        step = np.sqrt(p_order_given_click)
        carted = clicked & (rng.random(len(prod)) < step)
        ordered = carted & (rng.random(len(prod)) < step)

        imp_ts = ts[rows]
        click_ts = imp_ts + (position * 3_000 + rng.integers(1_000, 30_000, size=len(prod)))
        cart_ts = click_ts + rng.integers(10_000, 300_000, size=len(prod))
        order_ts = cart_ts + rng.integers(30_000, 1_800_000, size=len(prod))
        qid_combo = np.where(is_search, combo, -1)

        impressions = {
            "request_id": request_id[rows],
            "timestamp": imp_ts,
            "user_id": usr.astype(np.int64),
            "surface": surf,
            "query_combo": qid_combo[rows],
            "product_id": prod.astype(np.int64),
            "position": position.astype(np.int16),
            "propensity": propensity[rows, cols],
        }
        c = clicked
        clicks = {
            "request_id": request_id[rows][c],
            "timestamp": click_ts[c],
            "user_id": usr[c].astype(np.int64),
            "product_id": prod[c].astype(np.int64),
            "position": position[c].astype(np.int16),
        }
        c = carted
        carts = {
            "request_id": request_id[rows][c],
            "timestamp": cart_ts[c],
            "user_id": usr[c].astype(np.int64),
            "product_id": prod[c].astype(np.int64),
        }
        o = ordered
        o_prod = prod[o]
        consumable = w.leaf_consumable[w.product_leaf[o_prod]]
        qty = 1 + rng.poisson(np.where(consumable, 0.5, 0.1))
        n_o = int(o.sum())
        orders = {
            "order_id": order_base + np.arange(n_o, dtype=np.int64),
            "request_id": request_id[rows][o],
            "timestamp": order_ts[o],
            "user_id": usr[o].astype(np.int64),
            "product_id": o_prod.astype(np.int64),
            "store_id": w.product_store[o_prod].astype(np.int32),
            "price_paid": w.product_price[o_prod],
            "quantity": qty.astype(np.int16),
        }
        return ChunkEvents(impressions, clicks, carts, orders, combo[is_search])

    def _recall(self, n: int, k: int, surface: np.ndarray, user: np.ndarray, slot: np.ndarray,
                intent_leaf: np.ndarray, q_brand: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n, k) candidate product ids (-1 for none) per session."""
        w, m = self.w, self.m
        u = rng.random((n, k))
        out = np.full((n, k), -1, dtype=np.int64)
        # search: 60% the intended leaf, 20% its brand in that leaf, 20% a sibling leaf
        leaf_k = int(0.6 * k)
        brand_k = int(0.2 * k)
        seg_leaf = np.repeat(intent_leaf[:, None], k, axis=1)
        search_c = self.by_leaf.sample(seg_leaf[:, :leaf_k].ravel(), u[:, :leaf_k].ravel())
        out_s = np.full((n, k), -1, dtype=np.int64)
        out_s[:, :leaf_k] = search_c.reshape(n, leaf_k)
        key = intent_leaf.astype(np.int64) * self.n_brands + np.maximum(q_brand, 0)
        seg_b = np.repeat(key[:, None], brand_k, axis=1).ravel()
        by_b = self.by_leaf_brand.sample(seg_b, u[:, leaf_k:leaf_k + brand_k].ravel()).reshape(n, brand_k)
        by_l = self.by_leaf.sample(
            seg_leaf[:, leaf_k:leaf_k + brand_k].ravel(), u[:, leaf_k:leaf_k + brand_k].ravel()
        ).reshape(n, brand_k)
        out_s[:, leaf_k:leaf_k + brand_k] = np.where((q_brand >= 0)[:, None], by_b, by_l)
        rest = k - leaf_k - brand_k
        tops = w.leaf_top[intent_leaf]
        sib = np.empty((n, rest), dtype=np.int64)
        r2 = rng.random((n, rest))
        for t, members in enumerate(self.leaves_of_top):
            rows = np.flatnonzero(tops == t)
            if len(rows):
                sib[rows] = members[(r2[rows] * len(members)).astype(int)]
        out_s[:, leaf_k:] = out_s[:, leaf_k:]
        out_s[:, leaf_k + brand_k:] = self.by_leaf.sample(
            sib.ravel(), u[:, leaf_k + brand_k:].ravel()
        ).reshape(n, rest)
        # homepage and channel: a leaf per slot by taste at this hour (10% anything)
        probs = m.leaf_choice_probabilities(user, slot)
        cum = np.cumsum(probs, axis=1)
        draws = rng.random((n, k))
        leaf_pick = np.minimum(
            (cum[:, None, :] < draws[:, :, None]).sum(axis=2), self.n_leaves - 1
        )
        browse = self.by_leaf.sample(leaf_pick.ravel(), u.ravel()).reshape(n, k)
        anything = self.anything.sample(np.zeros(n * k, np.int64), rng.random(n * k)).reshape(n, k)
        browse = np.where(rng.random((n, k)) < 0.1, anything, browse)
        channel = self.subsidy_by_leaf.sample(leaf_pick.ravel(), u.ravel()).reshape(n, k)
        fallback = self.subsidy_any.sample(np.zeros(n * k, np.int64), u.ravel()).reshape(n, k)
        channel = np.where(channel >= 0, channel, fallback)
        out = np.where((surface == 0)[:, None], out_s, np.where((surface == 1)[:, None], browse, channel))
        return out


class QueryBook:
    """Turns (leaf, brand, modifier, language) intents into query texts and stable ids."""

    @staticmethod
    def combo(leaf: np.ndarray, brand: np.ndarray, modifier: np.ndarray, english: np.ndarray,
              n_brands: int) -> np.ndarray:
        """An int64 key per intent (-1 off search)."""
        key = ((leaf.astype(np.int64) * (n_brands + 1) + (brand + 1)) * 16 + (modifier + 1)) * 2
        key = key + english.astype(np.int64)
        return np.where(leaf >= 0, key, -1)

    @staticmethod
    def decode(key: np.ndarray, n_brands: int) -> tuple[np.ndarray, ...]:
        english = key % 2
        rest = key // 2
        modifier = rest % 16 - 1
        rest = rest // 16
        brand = rest % (n_brands + 1) - 1
        leaf = rest // (n_brands + 1)
        return leaf, brand, modifier, english.astype(bool)
