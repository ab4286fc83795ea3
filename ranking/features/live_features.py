"""Live features: what the shopper and the candidate did minutes ago, from the live state.

Each reads its per-candidate column from ``FeatureInputs.extra``, where
:func:`ranking.live.features.live_feature_columns` (the one definition: the service's hydrate
calls it, training's log replay its many-request form ``requests_live_columns``) put it. A
batch without them (no live state, live off or degraded) gets NaN: "unknown", which LightGBM
routes like a missing value.
"""

from __future__ import annotations

import numpy as np

from ranking.features.inputs import FeatureInputs
from ranking.features.registry import feature


def _extra(x: FeatureInputs, name: str) -> np.ndarray:
    col = x.extra.get(name)
    return np.full(x.n, np.nan, np.float32) if col is None else np.asarray(col, np.float32)


@feature("session_leaf_affinity", "live",
         "share of the shopper's interactions of the last live.intent_window_minutes in this leaf",
         label="shopper's session in this category", unit="percent")
def session_leaf_affinity(x: FeatureInputs) -> np.ndarray:
    return _extra(x, "session_leaf_affinity")


@feature("recent_item_interest", "live",
         "the shopper's clicks, carts, orders of this product, kind-weighted, halving every "
         "live.feature_half_life_minutes",
         label="shopper's recent interest in this product", unit="number")
def recent_item_interest(x: FeatureInputs) -> np.ndarray:
    return _extra(x, "recent_item_interest")


@feature("minutes_since_leaf_touch", "live",
         "minutes since the shopper's last interaction in this leaf (missing: none remembered)",
         label="minutes since the shopper was in this category", unit="minutes")
def minutes_since_leaf_touch(x: FeatureInputs) -> np.ndarray:
    return _extra(x, "minutes_since_leaf_touch")


@feature("ignored_impressions", "live",
         "times this card was shown to the shopper without a click (live.ignore_window_hours)",
         label="times shown without a click", unit="count")
def ignored_impressions(x: FeatureInputs) -> np.ndarray:
    return _extra(x, "ignored_impressions")


@feature("live_ctr", "live", "the product's last-day CTR, shrunk to the mall's (live counters)",
         label="click-through rate, last day", unit="percent")
def live_ctr(x: FeatureInputs) -> np.ndarray:
    return _extra(x, "live_ctr")


@feature("live_trend", "live",
         "the product's last-hour interactions over the last day's hourly mean (1 = steady)",
         label="last hour vs the day's hourly mean", unit="ratio")
def live_trend(x: FeatureInputs) -> np.ndarray:
    return _extra(x, "live_trend")


@feature("live_hour_clicks", "live", "log(1 + the product's clicks in the last hour)",
         label="clicks in the last hour", unit="log1p_count")
def live_hour_clicks(x: FeatureInputs) -> np.ndarray:
    return _extra(x, "live_hour_clicks")
