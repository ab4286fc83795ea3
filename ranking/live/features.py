"""The live features' one definition: a shopper's live view and the candidates' live
counters turned into per-candidate columns.

:func:`live_feature_columns` is called by the service (the pipeline's hydrate, through
:class:`ranking.pipeline.live_features.LiveFeatures`, on the request's
:class:`~ranking.live.state.ShopperView` and the live state's ``product_signals``).
:func:`requests_live_columns` computes the same columns for many requests at once (their
views as one :class:`~ranking.live.state.ShopperViews`, each card naming its request): training
calls it (:mod:`training.learning.live_replay`, on a :class:`~ranking.live.state.LiveState`
replayed from the logs up to each logged request), and the one-request function is that
function on one request, so a feature has one definition. The registry's ``live`` group
(:mod:`ranking.features.live_features`) reads these columns from ``FeatureInputs.extra``.

Missing stays NaN: without a view (live off or degraded, a shopper the state does not know)
the shopper columns are NaN; without signals the product columns are. Leaves are the
products' leaf category ids (``products.category_id``), given by the caller for both the
candidates and the view's items, so the view's own leaf rows (whatever catalog described
them) never matter.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from ranking.live.state import ShopperView, ShopperViews
from ranking.settings import LiveSettings

SHOPPER_COLUMNS = ("session_leaf_affinity", "recent_item_interest", "minutes_since_leaf_touch",
                   "ignored_impressions")
PRODUCT_COLUMNS = ("live_ctr", "live_trend", "live_hour_clicks")
LIVE_COLUMNS = SHOPPER_COLUMNS + PRODUCT_COLUMNS


def live_feature_columns(view: ShopperView | None, signals: Mapping[str, np.ndarray] | None,
                         product_ids: np.ndarray, leaves: np.ndarray, item_leaves: np.ndarray | None,
                         now_ms: int, settings: LiveSettings) -> dict[str, np.ndarray]:
    """The live columns (:data:`LIVE_COLUMNS`, float32) of candidates ``product_ids`` (leaf
    category ids ``leaves``, -1 unknown) for the shopper ``view`` (``item_leaves``: the leaf
    category ids of ``view.items``) at ``now_ms``, from the candidates' live ``signals``."""
    ids = np.asarray(product_ids, np.int64)
    if view is not None and view.known and item_leaves is not None and len(ids):
        mine = one_shopper_columns(view, ids, np.asarray(leaves, np.int64), np.asarray(item_leaves, np.int64),
                                   int(now_ms), settings)
        if mine is not None:
            return _with_signals(mine, signals, len(ids))
    views = ShopperViews.of(view, now_ms)
    item_leaves = item_leaves if views.known[0] and item_leaves is not None else np.zeros(len(views.items))
    return requests_live_columns(views, signals, np.zeros(len(ids), np.int64), ids, leaves, item_leaves,
                                 settings)


def requests_live_columns(views: ShopperViews, signals: Mapping[str, np.ndarray] | None,
                          card_of: np.ndarray, product_ids: np.ndarray, leaves: np.ndarray,
                          item_leaves: np.ndarray, settings: LiveSettings) -> dict[str, np.ndarray]:
    """:func:`live_feature_columns` of several requests at once: ``views`` holds each request's
    shopper and time, ``card_of`` each candidate's request (an index into ``views``),
    ``item_leaves`` the leaves of ``views.items``, ``signals`` each candidate's live counters
    as of its request."""
    ids = np.asarray(product_ids, np.int64)
    n = len(ids)
    card_of = np.asarray(card_of, np.int64)
    out: dict[str, np.ndarray] = {}
    known = views.known[card_of] if n else np.zeros(0, bool)
    if known.all() and n:
        out.update(_shopper_columns(views, card_of, ids, np.asarray(leaves, np.int64),
                                    np.asarray(item_leaves, np.int64), settings))
    elif known.any():
        cols = _shopper_columns(views, card_of, ids, np.asarray(leaves, np.int64),
                                np.asarray(item_leaves, np.int64), settings)
        for name, col in cols.items():
            out[name] = np.full(n, np.nan, np.float32)
            out[name][known] = col[known]
    return _with_signals(out, signals, n)


def _with_signals(out: dict[str, np.ndarray], signals: Mapping[str, np.ndarray] | None, n: int
                  ) -> dict[str, np.ndarray]:
    """``out`` (the shopper columns made, if any) and the product columns of ``signals``, every
    column of :data:`LIVE_COLUMNS` in order: one nothing gave stays missing (NaN)."""
    if signals is not None and n:
        out["live_ctr"] = np.asarray(signals["ctr"], np.float32)
        out["live_trend"] = np.asarray(signals["trend"], np.float32)
        out["live_hour_clicks"] = np.log1p(np.asarray(signals["hour_clicks"], np.float32))
    return {name: out[name] if name in out else np.full(n, np.nan, np.float32) for name in LIVE_COLUMNS}


# ---- one shopper (a served page): the same columns from a few small dicts --------------------
LEAF_TABLE = 1 << 16  # a page's leaf ids below this are read through a table as long as the largest
NO_ID = int(np.iinfo(np.int64).max)  # after every id: the slot a candidate not found reads


def one_shopper_columns(view: ShopperView, ids: np.ndarray, leaves: np.ndarray, item_leaves: np.ndarray,
                        now_ms: int, s: LiveSettings) -> dict[str, np.ndarray] | None:
    """:func:`requests_live_columns`' four shopper columns for one known shopper and ``ids`` (int64,
    at least one), to the bit: the shopper's <= ~50 interactions and ignored cards are summed per
    leaf and per id in Python, and the columns are two takes of two small tables (a page's ~25
    numpy calls on 500 candidates fewer than the many-request form's sorts and searches). None when
    a leaf id is too large for a table (the caller takes the many-request form)."""
    shifted = leaves + 1  # slot 0 of the leaf table is every unknown (negative) leaf's, by clipping
    touched = item_leaves.tolist()
    size = max(int(shifted.max()), max(touched, default=-1) + 1) + 1
    if size > LEAF_TABLE:
        return None
    age = np.maximum(now_ms - view.times_ms, 0).astype(np.float64)  # as the many-request form's
    ages = age.tolist()
    affinity, minutes = _leaf_table(size, touched, ages, s.intent_window_minutes * 60_000).take(
        shifted, axis=1, mode="clip")
    interest, ignored = _id_columns(view, ids, age, s)
    return {"session_leaf_affinity": affinity, "recent_item_interest": interest,
            "minutes_since_leaf_touch": minutes, "ignored_impressions": ignored}


@functools.lru_cache(maxsize=8)  # one size per catalog's leaves, mostly
def _blank_leaf_table(size: int) -> np.ndarray:
    """A leaf table no interaction touched: share 0 (NaN for unknown leaves, slot 0), minutes NaN."""
    table = np.full((2, size), np.nan, np.float32)
    table[0, 1:] = 0.0
    table.flags.writeable = False
    return table


def _leaf_table(size: int, item_leaves: list[int], ages: list[float], window_ms: float) -> np.ndarray:
    """Per leaf id + 1 (slot 0: unknown leaves), the shopper's share of the interactions of the
    last ``window_ms`` (0 if none; NaN unknown) and the minutes since the youngest (NaN: never)."""
    youngest: dict[int, float] = {}
    recent: dict[int, int] = {}
    for leaf, age in zip(item_leaves, ages, strict=True):
        if leaf >= 0:
            before = youngest.get(leaf)
            if before is None or age < before:
                youngest[leaf] = age
            if age <= window_ms:
                recent[leaf] = recent.get(leaf, 0) + 1
    table = _blank_leaf_table(size).copy()
    if youngest:
        total = sum(recent.values())
        table[:, [leaf + 1 for leaf in youngest]] = [
            [recent[leaf] / total if leaf in recent else 0.0 for leaf in youngest],
            [age / 60_000.0 for age in youngest.values()]]
    return table


def _id_columns(view: ShopperView, ids: np.ndarray, age: np.ndarray, s: LiveSettings) -> np.ndarray:
    """``recent_item_interest`` and ``ignored_impressions`` of ``ids`` (two rows): the shopper's ids
    (its interactions' and ignored cards') as one short sorted table searched once."""
    interest: dict[int, float] = {}
    if len(age):  # each interaction's weight as the many-request form computes it, summed per item
        kind_weights = np.asarray(s.feature_kind_weights, np.float64)
        half_life_ms = s.feature_half_life_minutes * 60_000
        weight = (np.take(kind_weights, view.kinds, mode="clip") * np.power(0.5, age / half_life_ms)).tolist()
        items = view.items.tolist()
        if len(set(items)) == len(items):
            interest = dict(zip(items, [0.0 + w for w in weight], strict=True))  # bincount's 0.0 + w
        else:
            for item, w in zip(items, weight, strict=True):
                interest[item] = interest.get(item, 0.0) + w  # in view order, as bincount adds them
    shown: dict[int, int] = {}
    ignored = np.asarray(view.ignored, np.int64).tolist()
    for item, times in zip(ignored, np.asarray(view.ignored_shown).tolist(), strict=True):
        shown.setdefault(item, times)  # the first of equal ids, as the stable sort finds it
    if not interest and not shown:
        return np.zeros((2, len(ids)), np.float32)
    keys = sorted(interest.keys() | shown.keys())
    table = np.array([*keys, NO_ID], np.int64)
    at = table.searchsorted(ids)
    at = np.where(table.take(at) == ids, at, len(keys))  # an id found as NO_ID reads the zeros too
    shown_per_key = [shown.get(k, 0) for k in keys] if shown else [0] * len(keys)
    per_key = [[interest.get(k, 0.0) for k in keys], shown_per_key]
    per_key[0].append(0.0)  # NO_ID's slot: nothing interacted with, never ignored
    per_key[1].append(0)
    return np.array(per_key, np.float32).take(at, axis=1)


class Keys:
    """(request, id) pairs as single int64 keys, one scale for every array compared."""

    def __init__(self, requests: int, *values: np.ndarray) -> None:
        self.single = requests <= 1  # one request (the service's): the ids themselves are the keys
        if self.single:
            return
        held = [v for v in values if len(v)]
        self.low = min([int(v.min()) for v in held] + [-1])
        self.span = max([int(v.max()) for v in held] + [0]) - self.low + 1
        if requests * self.span >= 2**62:
            raise ValueError(f"{requests} requests x ids spanning {self.span}: keys overflow int64")

    def __call__(self, of: np.ndarray, values: np.ndarray) -> np.ndarray:
        return values if self.single else of * self.span + (values - self.low)


def find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, found) of each key in ``sorted_keys`` (the first of equal ones)."""
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)  # np.clip costs more
    return at, sorted_keys[at] == keys


def _shopper_columns(views: ShopperViews, card_of: np.ndarray, ids: np.ndarray, leaves: np.ndarray,
                     item_leaves: np.ndarray, s: LiveSettings) -> dict[str, np.ndarray]:
    v = views
    key = Keys(len(v.known), ids, leaves, v.items, item_leaves, v.ignored)
    now_ms = v.now_ms[0] if key.single else v.now_ms[v.item_of]
    age_ms = np.maximum(now_ms - v.times_ms, 0).astype(np.float64)
    window_ms, half_life_ms = s.intent_window_minutes * 60_000, s.feature_half_life_minutes * 60_000
    weights = np.asarray(s.feature_kind_weights, np.float64)
    touches = LeafTouches.of(key, card_of, leaves, v.item_of, item_leaves, age_ms)
    return {
        "session_leaf_affinity": session_leaf_affinity(touches, card_of, leaves, window_ms),
        "recent_item_interest": recent_item_interest(key, card_of, ids, v.item_of, v.items, v.kinds, age_ms,
                                                     half_life_ms, weights),
        "minutes_since_leaf_touch": minutes_since_leaf_touch(touches, leaves),
        "ignored_impressions": ignored_impressions(key, card_of, ids, v.ignored_of, v.ignored,
                                                   v.ignored_shown),
    }


class LeafTouches:
    """The shopper's interactions in a known leaf grouped by (request, leaf), and each
    candidate's group: what the leaf share and the minutes since a leaf touch both look up (one
    sort and one search for the two columns)."""

    def __init__(self, single: bool, item_of: np.ndarray, age: np.ndarray, group: np.ndarray,
                 youngest: np.ndarray, at: np.ndarray, hit: np.ndarray) -> None:
        self.single = single  # one request's (the service's)
        self.item_of, self.age, self.group = item_of, age, group  # the grouped interactions, sorted
        self.youngest = youngest  # per group: the youngest interaction's age (ms)
        self.at, self.hit = at, hit  # per candidate: its group, and whether it has one

    @classmethod
    def of(cls, key: Keys, card_of: np.ndarray, leaves: np.ndarray, item_of: np.ndarray,
           item_leaves: np.ndarray, age_ms: np.ndarray) -> LeafTouches | None:
        """None when no interaction is in a known leaf."""
        held = item_leaves >= 0
        if not held.any():
            return None
        leaf, age = key(item_of[held], item_leaves[held]), age_ms[held]
        order = np.lexsort((age, leaf))  # by request and leaf, youngest first
        leaf, age = leaf[order], age[order]
        first = np.empty(len(leaf), bool)
        first[0] = True
        np.not_equal(leaf[1:], leaf[:-1], out=first[1:])
        at, hit = find(leaf[first], key(card_of, leaves))
        return cls(key.single, item_of[held][order], age, np.cumsum(first) - 1, age[first], at, hit)


def session_leaf_affinity(touches: LeafTouches | None, card_of: np.ndarray, leaves: np.ndarray,
                          window_ms: float) -> np.ndarray:
    """Share of the shopper's interactions of the last ``window_ms`` in each candidate's leaf
    (0 when none falls in the window; NaN for a candidate of unknown leaf)."""
    out = np.zeros(len(leaves), np.float32)
    recent = touches.age <= window_ms if touches is not None else None
    if recent is not None and recent.any():
        counts = np.bincount(touches.group[recent], minlength=len(touches.youngest))
        hit = touches.hit & (counts[touches.at] > 0)
        per_request = np.count_nonzero(recent) if touches.single else np.bincount(
            touches.item_of[recent], minlength=int(card_of.max()) + 1)[card_of[hit]]
        out[hit] = (counts[touches.at[hit]] / per_request).astype(np.float32)
    out[leaves < 0] = np.nan
    return out


def recent_item_interest(key: Keys, card_of: np.ndarray, ids: np.ndarray, item_of: np.ndarray,
                         items: np.ndarray, kinds: np.ndarray, age_ms: np.ndarray, half_life_ms: float,
                         kind_weights: np.ndarray) -> np.ndarray:
    """Sum over the shopper's interactions with each candidate of kind weight x 0.5 ** (age /
    half-life): the candidate itself clicked, carted or ordered moments ago."""
    out = np.zeros(len(ids), np.float32)
    if not len(items) or not len(ids):
        return out
    # take's clip mode clips the kinds to the weights' range as np.clip did, in one call
    weight = np.take(kind_weights, kinds, mode="clip") * np.power(0.5, age_ms / half_life_ms)
    keys = key(item_of, items)
    order = np.argsort(keys, kind="stable")  # np.unique's grouping without its inverse: equal keys
    keys = keys[order]  # keep view order, so bincount adds each item's weights in view order still
    first = np.empty(len(keys), bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    uniq = keys[first]
    per_item = np.bincount(np.cumsum(first) - 1, weights=weight[order], minlength=len(uniq))
    at, hit = find(uniq, key(card_of, ids))
    out[hit] = per_item[at[hit]].astype(np.float32)
    return out


def minutes_since_leaf_touch(touches: LeafTouches | None, leaves: np.ndarray) -> np.ndarray:
    """Minutes since the shopper's last interaction in each candidate's leaf (NaN: never, as far
    as the view's ring remembers)."""
    out = np.full(len(leaves), np.nan, np.float32)
    if touches is None:
        return out
    hit = touches.hit & (leaves >= 0)
    out[hit] = (touches.youngest[touches.at[hit]] / 60_000.0).astype(np.float32)
    return out


def ignored_impressions(key: Keys, card_of: np.ndarray, ids: np.ndarray, ignored_of: np.ndarray,
                        ignored: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """Times each candidate was shown to the shopper without a click since (within
    ``live.ignore_window_hours``; 0 when never or clicked since)."""
    out = np.zeros(len(ids), np.float32)
    if not len(ignored) or not len(ids):
        return out
    keys = key(ignored_of, np.asarray(ignored, np.int64))
    order = np.argsort(keys, kind="stable")
    at, hit = find(keys[order], key(card_of, ids))
    out[hit] = np.asarray(shown)[order][at[hit]].astype(np.float32)
    return out


def leaf_lookup(known_ids: np.ndarray, known_leaves: np.ndarray, product_ids: np.ndarray) -> np.ndarray:
    """Leaf category ids of ``product_ids`` from a catalog's ``known_ids`` (sorted ascending)
    and their ``known_leaves``; -1 for a product the catalog does not hold."""
    ids = np.asarray(product_ids, np.int64)
    if not len(known_ids):
        return np.full(len(ids), -1, np.int64)
    at = np.minimum(np.searchsorted(known_ids, ids), len(known_ids) - 1)
    return np.where(known_ids[at] == ids, np.asarray(known_leaves, np.int64)[at], -1)
