"""Shopping sessions: who comes when, what they shop for, what the logging policy shows.

A session is several pages (requests) by one shopper within minutes, each on a surface
drawn by ``surface_shares``, with a **mission**: the leaf category the shopper is shopping
for now, drawn at the session's start from their taste at that hour (time-slot themes
boosted). The mission pulls the shopper's interest towards its leaf (and, less, its
siblings) and fades page by page (:func:`training.simulator.behaviour.mission_strength`);
``mission_search_share`` of the session's search pages query it, and a search for it or a
click on one of its products reveals it. After each page the session ends on an order,
on fatigue (``1 - session_continue_probability``) or at ``session_max_pages``; pages are
``session_page_gap_seconds`` apart. The truth of every request (session, page, mission,
its strength, whether it was revealed before) goes to ``truth/requests.parquet``.

On each page recall draws ``candidates_per_request`` products (search: mostly the query's
leaf category and brand; homepage: categories the user likes at this hour; channel: the
big-brand subsidy channel), drops the ones that cannot be shown (banned, out of stock,
not yet listed, store not trading that day), and the *logging policy* ranks them:

``score = 1.2 text_match + 0.5 log(historical popularity) + 1.0 discount + 0.3 big_brand
+ 0.8 log(L * long-term category taste)`` (homepage/channel) ``+ N(0, 0.4)``

with ``text_match = [leaf = query leaf] + 0.5 [brand = query brand]`` on search. The
policy knows nothing of the mission (a frozen ranker). On a ``randomised_share`` of
requests whose top ``R = randomised_top`` slots are all filled, those slots are shuffled
uniformly; every impression logs its propensity ``(1 - eps) [shown slot = policy slot]
+ eps / R`` for policy slots <= R, else 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.surfaces import SURFACE_CODES
from training.simulator.behaviour import (
    BehaviourModel,
    examination,
    mission_strength,
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
    query_combo: np.ndarray  # per search request: its query's combo key (see QueryBook)
    requests: dict[str, np.ndarray]  # per request: the session truth (truth/requests.parquet)


@dataclass
class PageBatch:
    """One page of every session still going: aligned per-request arrays."""

    session: np.ndarray
    page: int
    ts: np.ndarray
    user: np.ndarray
    surface: np.ndarray
    mission: np.ndarray
    strength: np.ndarray
    revealed: np.ndarray  # the mission was revealed on an earlier page of the session


@dataclass
class PageCards:
    """What one batch of pages showed and what the shoppers did, per card (``req`` indexes the batch)."""

    req: np.ndarray
    product: np.ndarray
    position: np.ndarray
    propensity: np.ndarray
    clicked: np.ndarray
    carted: np.ndarray
    ordered: np.ndarray
    combo: np.ndarray  # per request: the query combo key, -1 off search


class SessionSimulator:
    """Runs chunks of sessions, page by page, through recall, the logging policy and the behaviour model."""

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
        names = list(SURFACE_CODES)
        p = np.array([settings.surface_shares.get(n, 0.0) for n in names])
        self.surface_p = p / p.sum()

    def _slot(self, ts: np.ndarray) -> np.ndarray:
        return slot_of_hour(((ts + self.tz) // 3_600_000) % 24)

    def _draw_leaf(self, user: np.ndarray, slot: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A leaf per user by their taste at the time slot (themes boosted)."""
        cum = np.cumsum(self.m.leaf_choice_probabilities(user, slot), axis=1)
        return np.minimum((cum < rng.random(len(user))[:, None]).sum(axis=1), self.n_leaves - 1)

    def run_chunk(self, plan: SessionPlan, lo: int, hi: int, request_base: int, order_base: int,
                  rng: np.random.Generator) -> ChunkEvents:
        """Sessions ``lo:hi`` of the plan, page by page until each ends; request ids from
        ``request_base`` in time order."""
        s = self.s
        n = hi - lo
        ts = plan.ts_ms[lo:hi].copy()
        user = plan.user[lo:hi]
        surface = plan.surface[lo:hi].copy()
        mission = self._draw_leaf(user, self._slot(ts), rng)
        revealed = np.zeros(n, bool)
        active = np.ones(n, bool)
        gap_lo, gap_hi = s.session_page_gap_seconds
        parts: list[tuple[PageBatch, PageCards]] = []
        for page in range(s.session_max_pages):
            idx = np.flatnonzero(active)
            if len(idx) == 0:
                break
            if page:
                surface[idx] = rng.choice(len(self.surface_p), size=len(idx), p=self.surface_p)
                ts[idx] += rng.integers(gap_lo * 1000, gap_hi * 1000 + 1, size=len(idx))
            strength = mission_strength(np.full(len(idx), page), s.mission_boost, s.mission_half_life_pages)
            batch = PageBatch(lo + idx, page, ts[idx], user[idx], surface[idx], mission[idx], strength,
                              revealed[idx].copy())
            cards = self._serve(batch, rng)
            parts.append((batch, cards))
            in_mission = self.w.product_leaf[cards.product] == batch.mission[cards.req]
            clicked_mission = np.bincount(cards.req[cards.clicked & in_mission], minlength=len(idx)) > 0
            searched = cards.combo >= 0
            q_leaf = QueryBook.decode(np.where(searched, cards.combo, 0), self.n_brands)[0]
            revealed[idx] |= clicked_mission | (searched & (q_leaf == batch.mission))
            ordered = np.bincount(cards.req[cards.ordered], minlength=len(idx)) > 0
            tired = rng.random(len(idx)) >= s.session_continue_probability
            active[idx[ordered | tired]] = False
        return self._assemble(parts, request_base, order_base, rng)

    def _queries(self, b: PageBatch, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """(intent leaf, query leaf, query brand, query combo) per request; -1 off search."""
        w, n = self.w, len(b.ts)
        is_search = b.surface == 0
        drawn = self._draw_leaf(b.user, self._slot(b.ts), rng)
        on_mission = rng.random(n) < self.s.mission_search_share
        intent_leaf = np.where(is_search & on_mission, b.mission, drawn)
        brand_pick = self.by_leaf.sample(intent_leaf, rng.random(n))
        want_brand = is_search & (rng.random(n) < 0.3) & (brand_pick >= 0)
        q_brand = np.where(want_brand, w.product_brand[np.maximum(brand_pick, 0)], -1)
        q_leaf = np.where(is_search, intent_leaf, -1)
        modifier = np.where(rng.random(n) < 0.3, rng.integers(0, 15, size=n), -1)
        english = w.user_language_en[b.user] ^ (rng.random(n) < 0.1)
        combo = QueryBook.combo(q_leaf, q_brand, modifier, english, self.n_brands)
        return intent_leaf, q_leaf, q_brand, combo

    def _candidates(self, b: PageBatch, intent_leaf: np.ndarray, q_brand: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
        """(n, k) recalled products that can be shown (-1 where none), each at most once per row."""
        w, k, n = self.w, self.s.candidates_per_request, len(b.ts)
        slot = self._slot(b.ts)
        day = np.clip((b.ts - w.start_ms) // DAY_MS, 0, w.days - 1)
        flat = self._recall(n, k, b.surface, b.user, slot, intent_leaf, q_brand, rng).ravel()
        valid = flat >= 0
        safe = np.where(valid, flat, 0)
        valid &= ~w.product_banned[safe] & (w.product_stock[safe] > 0)
        valid &= w.product_listed_ms[safe] <= np.repeat(b.ts, k)
        valid &= w.store_day_open[w.product_store[safe], np.repeat(day, k)]
        cand = np.sort(np.where(valid, flat, -1).reshape(n, k), axis=1)
        dup = np.zeros_like(cand, dtype=bool)
        dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
        return np.where(dup, -1, cand)

    def _policy(self, b: PageBatch, cand: np.ndarray, q_leaf: np.ndarray, q_brand: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The logging policy's page: (ranked products, propensity, shown) per (request, slot)."""
        w, s, n = self.w, self.s, len(b.ts)
        is_search = b.surface == 0
        safe = np.maximum(cand, 0)
        leaf = w.product_leaf[safe]
        text = np.where(
            is_search[:, None],
            1.0 * (leaf == q_leaf[:, None]) + 0.5 * (w.product_brand[safe] == q_brand[:, None]),
            0.0,
        )
        taste = np.log(self.n_leaves * w.user_affinity[b.user[:, None], leaf] + 1e-9)
        personal = np.where(is_search[:, None], 0.0, 0.8 * np.clip(taste, -3, 2))
        score = (1.2 * text + 0.5 * self.log_pop[safe] + 1.0 * self.discount[safe] + 0.3 * self.big[safe]
                 + personal + rng.normal(0.0, 0.4, size=cand.shape))
        score = np.where(cand >= 0, score, -np.inf)
        order = np.argsort(-score, axis=1, kind="stable")
        page = np.where(is_search, s.page_size_search, s.page_size_homepage)
        width = int(page.max())
        ranked = np.take_along_axis(cand, order[:, :width], axis=1)
        r, eps = s.randomised_top, s.randomised_share
        eligible = (ranked >= 0).sum(axis=1) >= r
        shuffled = eligible & (rng.random(n) < eps)
        perm = np.argsort(rng.random((n, r)), axis=1)
        policy_slot = np.tile(np.arange(width), (n, 1))
        ranked[:, :r] = np.where(shuffled[:, None], np.take_along_axis(ranked[:, :r], perm, axis=1),
                                 ranked[:, :r])
        policy_slot[:, :r] = np.where(shuffled[:, None], perm, policy_slot[:, :r])
        shown_slot = np.tile(np.arange(width), (n, 1))
        propensity = np.where(eligible[:, None] & (policy_slot < r),
                              (1 - eps) * (policy_slot == shown_slot) + eps / r, 1.0)
        return ranked, propensity, (ranked >= 0) & (shown_slot < page[:, None])

    def _serve(self, b: PageBatch, rng: np.random.Generator) -> PageCards:
        """One page per request of the batch: recall, the logging policy, then the shoppers."""
        intent_leaf, q_leaf, q_brand, combo = self._queries(b, rng)
        cand = self._candidates(b, intent_leaf, q_brand, rng)
        ranked, propensity, shown = self._policy(b, cand, q_leaf, q_brand, rng)
        rows, cols = np.nonzero(shown)
        prod = ranked[rows, cols]
        position = cols + 1
        surf = b.surface[rows]
        p_click, p_order_given_click = self.m.probabilities(
            b.user[rows], prod, self._slot(b.ts)[rows], surf, q_leaf[rows], q_brand[rows],
            b.mission[rows], b.strength[rows])
        examined = rng.random(len(prod)) < examination(position, surf)
        clicked = examined & (rng.random(len(prod)) < p_click)
        step = np.sqrt(p_order_given_click)
        carted = clicked & (rng.random(len(prod)) < step)
        ordered = carted & (rng.random(len(prod)) < step)
        return PageCards(rows, prod, position, propensity[rows, cols], clicked, carted, ordered, combo)

    def _assemble(self, parts: list[tuple[PageBatch, PageCards]], request_base: int, order_base: int,
                  rng: np.random.Generator) -> ChunkEvents:
        """Every page's cards as contract rows, requests numbered in time order."""
        w = self.w
        offsets = np.cumsum([0] + [len(b.ts) for b, _ in parts])
        cat = np.concatenate
        req_ts = cat([b.ts for b, _ in parts])
        rank = np.empty(len(req_ts), np.int64)
        rank[np.argsort(req_ts, kind="stable")] = np.arange(len(req_ts))
        request_id = request_base + rank
        req = cat([c.req + off for (_, c), off in zip(parts, offsets, strict=False)])
        card_order = np.lexsort((cat([c.position for _, c in parts]), rank[req]))
        req = req[card_order]

        def cards(name: str) -> np.ndarray:
            return cat([getattr(c, name) for _, c in parts])[card_order]

        prod, position = cards("product"), cards("position")
        surface, user = cat([b.surface for b, _ in parts]), cat([b.user for b, _ in parts])
        combo = cat([c.combo for _, c in parts])
        imp_ts = req_ts[req]
        click_ts = imp_ts + (position * 3_000 + rng.integers(1_000, 30_000, size=len(prod)))
        cart_ts = click_ts + rng.integers(10_000, 300_000, size=len(prod))
        order_ts = cart_ts + rng.integers(30_000, 1_800_000, size=len(prod))
        usr, rid = user[req].astype(np.int64), request_id[req]
        impressions = {"request_id": rid, "timestamp": imp_ts, "user_id": usr, "surface": surface[req],
                       "query_combo": combo[req], "product_id": prod.astype(np.int64),
                       "position": position.astype(np.int16), "propensity": cards("propensity")}
        c, k, o = cards("clicked"), cards("carted"), cards("ordered")
        clicks = {"request_id": rid[c], "timestamp": click_ts[c], "user_id": usr[c],
                  "product_id": prod[c].astype(np.int64), "position": position[c].astype(np.int16)}
        carts = {"request_id": rid[k], "timestamp": cart_ts[k], "user_id": usr[k],
                 "product_id": prod[k].astype(np.int64)}
        o_prod = prod[o]
        consumable = w.leaf_consumable[w.product_leaf[o_prod]]
        qty = 1 + rng.poisson(np.where(consumable, 0.5 + self.m.multi_item_quantity(o_prod), 0.1))
        orders = {"order_id": order_base + np.arange(len(o_prod), dtype=np.int64), "request_id": rid[o],
                  "timestamp": order_ts[o], "user_id": usr[o], "product_id": o_prod.astype(np.int64),
                  "store_id": w.product_store[o_prod].astype(np.int32), "price_paid": w.product_price[o_prod],
                  "quantity": qty.astype(np.int16)}
        by_time = np.argsort(rank)
        requests = {"request_id": request_id[by_time],
                    "session_id": cat([b.session for b, _ in parts])[by_time].astype(np.int64),
                    "page": cat([np.full(len(b.ts), b.page) for b, _ in parts])[by_time].astype(np.int16),
                    "mission_leaf": cat([b.mission for b, _ in parts])[by_time],
                    "mission_strength": cat([b.strength for b, _ in parts])[by_time],
                    "mission_revealed": cat([b.revealed for b, _ in parts])[by_time]}
        return ChunkEvents(impressions, clicks, carts, orders, combo[combo >= 0], requests)

    def _recall(self, n: int, k: int, surface: np.ndarray, user: np.ndarray, slot: np.ndarray,
                intent_leaf: np.ndarray, q_brand: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(n, k) candidate product ids (-1 for none) per request, drawn for its surface only."""
        out = np.full((n, k), -1, dtype=np.int64)
        search = np.flatnonzero(surface == 0)
        if len(search):
            out[search] = self._recall_search(k, intent_leaf[search], q_brand[search], rng)
        for code, draw in ((1, self._recall_homepage), (2, self._recall_channel)):
            rows = np.flatnonzero(surface == code)
            if len(rows):
                out[rows] = draw(k, user[rows], slot[rows], rng)
        return out

    def _recall_search(self, k: int, intent_leaf: np.ndarray, q_brand: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
        """Search: 60% the intended leaf, 20% its brand in that leaf (else the leaf), 20% a sibling leaf."""
        n = len(intent_leaf)
        u = rng.random((n, k))
        out = np.full((n, k), -1, dtype=np.int64)
        leaf_k, brand_k = int(0.6 * k), int(0.2 * k)
        seg_leaf = np.repeat(intent_leaf[:, None], k, axis=1)
        out[:, :leaf_k] = self.by_leaf.sample(seg_leaf[:, :leaf_k].ravel(),
                                              u[:, :leaf_k].ravel()).reshape(n, leaf_k)
        key = intent_leaf.astype(np.int64) * self.n_brands + np.maximum(q_brand, 0)
        u_b = u[:, leaf_k:leaf_k + brand_k].ravel()
        by_b = self.by_leaf_brand.sample(np.repeat(key, brand_k), u_b).reshape(n, brand_k)
        by_l = self.by_leaf.sample(np.repeat(intent_leaf, brand_k), u_b).reshape(n, brand_k)
        out[:, leaf_k:leaf_k + brand_k] = np.where((q_brand >= 0)[:, None], by_b, by_l)
        rest = k - leaf_k - brand_k
        tops = self.w.leaf_top[intent_leaf]
        sib = np.empty((n, rest), dtype=np.int64)
        r2 = rng.random((n, rest))
        for t, members in enumerate(self.leaves_of_top):
            rows = np.flatnonzero(tops == t)
            if len(rows):
                sib[rows] = members[(r2[rows] * len(members)).astype(int)]
        out[:, leaf_k + brand_k:] = self.by_leaf.sample(
            sib.ravel(), u[:, leaf_k + brand_k:].ravel()).reshape(n, rest)
        return out

    def _taste_leaves(self, k: int, user: np.ndarray, slot: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
        """(n, k) leaves drawn by each user's taste at the time slot."""
        cum = np.cumsum(self.m.leaf_choice_probabilities(user, slot), axis=1)
        draws = rng.random((len(user), k))
        return np.minimum((cum[:, None, :] < draws[:, :, None]).sum(axis=2), self.n_leaves - 1)

    def _recall_homepage(self, k: int, user: np.ndarray, slot: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
        """Homepage: a leaf per slot by taste at this hour, 10% anything."""
        n = len(user)
        leaf_pick = self._taste_leaves(k, user, slot, rng)
        browse = self.by_leaf.sample(leaf_pick.ravel(), rng.random(n * k)).reshape(n, k)
        anything = self.anything.sample(np.zeros(n * k, np.int64), rng.random(n * k)).reshape(n, k)
        return np.where(rng.random((n, k)) < 0.1, anything, browse)

    def _recall_channel(self, k: int, user: np.ndarray, slot: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
        """The subsidy channel: subsidy listings of a leaf by taste, any subsidy listing if none."""
        n = len(user)
        leaf_pick = self._taste_leaves(k, user, slot, rng)
        u = rng.random(n * k)
        channel = self.subsidy_by_leaf.sample(leaf_pick.ravel(), u).reshape(n, k)
        fallback = self.subsidy_any.sample(np.zeros(n * k, np.int64), u).reshape(n, k)
        return np.where(channel >= 0, channel, fallback)


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
