"""One request's view of cold start over some products: which are new, their posteriors (the
bundle's counts plus the live last day's) and their stages.

The leaf rates are the bundle's and are computed once per product table (the live catalog
swaps the table whole when it lists a product, and the rates are then computed anew).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ranking.cold_start.newness import new_products
from ranking.cold_start.posterior import LeafRates, Posteriors, bundle_counts, nan_to, posteriors
from ranking.cold_start.stages import stages
from ranking.features.snapshot import FeatureSnapshot
from ranking.settings import ColdStartSettings

LIVE_COUNTS = ("day_impressions", "day_clicks", "day_orders")


@dataclass
class ColdStartView:
    """Per product asked about: new (either reason), why, and for the new ones their posteriors
    and stage (``rows`` index the new ones among the products asked about)."""

    new: np.ndarray
    new_product: np.ndarray
    new_store: np.ndarray
    rows: np.ndarray
    posterior: Posteriors
    stage: np.ndarray


class LeafRateCache:
    """The leaf rates of the product table last asked about (recomputed when it changes)."""

    def __init__(self) -> None:
        self._key: tuple[Any, int, float] | None = None
        self._rates: LeafRates | None = None

    def of(self, snapshot: FeatureSnapshot, strength: float) -> LeafRates:
        leaf = snapshot.products.columns["category_id"]
        key = (leaf, len(leaf), strength)
        if self._key is None or self._key[0] is not leaf or self._key[1:] != key[1:]:
            self._rates, self._key = LeafRates.of(snapshot, strength), key
        return self._rates


def live_counts(live_signals: Any, product_ids: np.ndarray, now_ms: int) -> tuple[np.ndarray, ...]:
    """The live last day's (impressions, clicks, orders) of products; zeros without a live state."""
    zeros = tuple(np.zeros(len(product_ids)) for _ in LIVE_COUNTS)
    if live_signals is None or not len(product_ids):
        return zeros
    signals = live_signals(np.asarray(product_ids, np.int64), now_ms)
    return tuple(np.asarray(signals.get(k, z), np.float64) for k, z in zip(LIVE_COUNTS, zeros, strict=True))


def cold_start_view(snapshot: FeatureSnapshot, product_ids: np.ndarray, now_ms: int, live_signals: Any,
                    settings: ColdStartSettings, rates: LeafRates) -> ColdStartView:
    """Cold start's view of ``product_ids`` at ``now_ms`` (``live_signals``: the request's reader of
    the live counters, or None)."""
    product_ids = np.asarray(product_ids, np.int64)
    products = snapshot.products  # read once (the live catalog swaps it whole), rows looked up once
    p_rows = products.rows(product_ids)
    new_product, new_store = new_products(snapshot, product_ids, now_ms, settings, rows=p_rows)
    new = new_product | new_store
    rows = np.flatnonzero(new)
    ids = product_ids[rows]
    leaf = products.take("category_id", p_rows[rows], missing=-1)
    order_rate, click_rate = rates.rates(nan_to(leaf, nan=-1).astype(np.int64))
    b_imps, b_clicks, b_orders = bundle_counts(snapshot, ids, rows=p_rows[rows])
    l_imps, l_clicks, l_orders = live_counts(live_signals, ids, now_ms)
    post = posteriors(order_rate, click_rate, b_imps + l_imps, b_clicks + l_clicks, b_orders + l_orders,
                      settings.prior_strength)
    return ColdStartView(new, new_product, new_store, rows, post, stages(post, settings))
