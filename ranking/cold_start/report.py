"""The cold-start report: every new product as of a moment, with its impressions, clicks,
orders, posteriors and stage (``shelfrank cold-start report``).

The counts are the bundle's (its scores' window) plus, when a live state is given, its last
day's: the report a service's operator reads is the bandit's own view of each product.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ranking.cold_start.stages import STAGES, below_leaf
from ranking.cold_start.view import LeafRates, cold_start_view
from ranking.features.snapshot import FeatureSnapshot
from ranking.settings import ColdStartSettings


def cold_start_report(snapshot: FeatureSnapshot, now_ms: int, settings: ColdStartSettings,
                      live_signals: Any = None) -> dict:
    """``{"as_of_ms", "stages": {stage: count}, "products": [...]}``: every product new at
    ``now_ms``, exploring first, then by posterior mean (highest first)."""
    ids = snapshot.products.ids
    view = cold_start_view(snapshot, ids, now_ms, live_signals, settings,
                           LeafRates.of(snapshot, settings.prior_strength))
    post, rows = view.posterior, view.rows
    products = snapshot.products
    p_rows = products.rows(ids[rows])
    listed = (products.take("listed_at", p_rows) if "listed_at" in products.columns
              else np.full(len(rows), np.nan))
    below = below_leaf(post)
    order = np.lexsort((ids[rows], -post.order_mean, view.stage != STAGES[0]))
    out = []
    for k in order.tolist():
        r = int(rows[k])
        out.append({
            "product_id": int(ids[r]), "store_id": int(products.take("store_id", p_rows[k:k + 1], -1)[0]),
            "category_id": int(products.take("category_id", p_rows[k:k + 1], -1)[0]),
            "listed_at_ms": None if np.isnan(listed[k]) else int(listed[k]),
            "new_product": bool(view.new_product[r]), "new_store": bool(view.new_store[r]),
            "impressions": float(post.impressions[k]), "clicks": float(post.clicks[k]),
            "orders": float(post.orders[k]),
            "order_rate_posterior": [float(post.order_alpha[k]), float(post.order_beta[k])],
            "order_rate_mean": float(post.order_mean[k]), "click_rate_mean": float(post.click_mean[k]),
            "leaf_order_rate": float(post.leaf_order_rate[k]), "p_below_leaf": float(below[k]),
            "stage": str(view.stage[k])})
    return {"as_of_ms": int(now_ms), "stages": {s: int((view.stage == s).sum()) for s in STAGES},
            "products": out}
