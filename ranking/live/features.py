"""The live features' one definition: a shopper's live view and the candidates' live
counters turned into per-candidate columns.

:func:`live_feature_columns` is called by the service (the pipeline's hydrate, through
:class:`ranking.pipeline.live_features.LiveFeatures`, on the request's
:class:`~ranking.live.state.ShopperView` and the live state's ``product_signals``) and by
training (:mod:`training.learning.live_replay`, on a :class:`~ranking.live.state.LiveState`
replayed from the logs up to each logged request). The registry's ``live`` group
(:mod:`ranking.features.live_features`) reads these columns from ``FeatureInputs.extra``.

Missing stays NaN: without a view (live off or degraded, a shopper the state does not know)
the shopper columns are NaN; without signals the product columns are. Leaves are the
products' leaf category ids (``products.category_id``), given by the caller for both the
candidates and the view's items, so the view's own leaf rows (whatever catalog described
them) never matter.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ranking.live.state import ShopperView
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
    n = len(ids)
    out = {name: np.full(n, np.nan, np.float32) for name in LIVE_COLUMNS}
    if view is not None and view.known:
        out.update(_shopper_columns(view, ids, np.asarray(leaves, np.int64),
                                    np.asarray(item_leaves, np.int64), now_ms, settings))
    if signals is not None and n:
        out["live_ctr"] = np.asarray(signals["ctr"], np.float32)
        out["live_trend"] = np.asarray(signals["trend"], np.float32)
        out["live_hour_clicks"] = np.log1p(np.asarray(signals["hour_clicks"], np.float32))
    return out


def _shopper_columns(view: ShopperView, ids: np.ndarray, leaves: np.ndarray, item_leaves: np.ndarray,
                     now_ms: int, s: LiveSettings) -> dict[str, np.ndarray]:
    age_ms = np.maximum(now_ms - view.times_ms, 0).astype(np.float64)
    return {
        "session_leaf_affinity": session_leaf_affinity(leaves, item_leaves, age_ms,
                                                       s.intent_window_minutes * 60_000),
        "recent_item_interest": recent_item_interest(ids, view.items, view.kinds, age_ms,
                                                     s.feature_half_life_minutes * 60_000,
                                                     np.asarray(s.feature_kind_weights, np.float64)),
        "minutes_since_leaf_touch": minutes_since_leaf_touch(leaves, item_leaves, age_ms),
        "ignored_impressions": ignored_impressions(ids, view.ignored, view.ignored_shown),
    }


def session_leaf_affinity(leaves: np.ndarray, item_leaves: np.ndarray, age_ms: np.ndarray,
                          window_ms: float) -> np.ndarray:
    """Share of the shopper's interactions of the last ``window_ms`` in each candidate's leaf
    (0 when none falls in the window; NaN for a candidate of unknown leaf)."""
    recent = item_leaves[(age_ms <= window_ms) & (item_leaves >= 0)]
    out = np.zeros(len(leaves), np.float32)
    if len(recent):
        uniq, counts = np.unique(recent, return_counts=True)
        at = np.minimum(np.searchsorted(uniq, leaves), len(uniq) - 1)
        hit = uniq[at] == leaves
        out[hit] = (counts[at[hit]] / len(recent)).astype(np.float32)
    out[leaves < 0] = np.nan
    return out


def recent_item_interest(ids: np.ndarray, items: np.ndarray, kinds: np.ndarray, age_ms: np.ndarray,
                         half_life_ms: float, kind_weights: np.ndarray) -> np.ndarray:
    """Sum over the shopper's interactions with each candidate of kind weight x 0.5 ** (age /
    half-life): the candidate itself clicked, carted or ordered moments ago."""
    out = np.zeros(len(ids), np.float32)
    if not len(items) or not len(ids):
        return out
    weight = kind_weights[np.clip(kinds, 0, len(kind_weights) - 1)] * np.power(0.5, age_ms / half_life_ms)
    uniq, inverse = np.unique(items, return_inverse=True)
    per_item = np.bincount(inverse.ravel(), weights=weight, minlength=len(uniq))
    at = np.minimum(np.searchsorted(uniq, ids), len(uniq) - 1)
    hit = uniq[at] == ids
    out[hit] = per_item[at[hit]].astype(np.float32)
    return out


def minutes_since_leaf_touch(leaves: np.ndarray, item_leaves: np.ndarray, age_ms: np.ndarray) -> np.ndarray:
    """Minutes since the shopper's last interaction in each candidate's leaf (NaN: never, as far
    as the view's ring remembers)."""
    out = np.full(len(leaves), np.nan, np.float32)
    held = item_leaves >= 0
    if not held.any():
        return out
    leaf, age = item_leaves[held], age_ms[held]
    order = np.lexsort((age, leaf))  # by leaf, youngest first
    uniq, first = np.unique(leaf[order], return_index=True)
    youngest = age[order][first]
    at = np.minimum(np.searchsorted(uniq, leaves), len(uniq) - 1)
    hit = (uniq[at] == leaves) & (leaves >= 0)
    out[hit] = (youngest[at[hit]] / 60_000.0).astype(np.float32)
    return out


def ignored_impressions(ids: np.ndarray, ignored: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """Times each candidate was shown to the shopper without a click since (within
    ``live.ignore_window_hours``; 0 when never or clicked since)."""
    out = np.zeros(len(ids), np.float32)
    if not len(ignored) or not len(ids):
        return out
    order = np.argsort(ignored, kind="stable")
    uniq = np.asarray(ignored, np.int64)[order]
    at = np.minimum(np.searchsorted(uniq, ids), len(uniq) - 1)
    hit = uniq[at] == ids
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
