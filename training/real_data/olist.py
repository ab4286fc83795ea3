"""Olist (real Brazilian marketplace orders): does late delivery, measured the way the
logistics dimension measures it, go with worse reviews?

Each order's promise is its estimated delivery date (promised days = estimated date -
purchase, rounded up); :func:`ranking.scores.aggregates.delivery_lateness` then decides
on-time / late / pending exactly as for a store's logistics dimension, as of the last
purchase in the file. Reported: Spearman correlations of on-time and of days late with
the review score, and the mean review of on-time vs late orders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ranking.scores.aggregates import delivery_lateness

DAY_MS = 86_400_000


def _ms(values: pd.Series) -> np.ndarray:
    t = pd.to_datetime(values, errors="coerce", utc=True)
    ms = (t - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return ms.fillna(-1).astype(np.int64).to_numpy()


def olist_lateness_vs_reviews(csv: str | Path) -> dict:
    d = pd.read_csv(csv)
    needed = ["order_purchase_timestamp", "order_estimated_delivery_date",
              "order_delivered_customer_date", "review_score", "order_status"]
    missing = [c for c in needed if c not in d.columns]
    if missing:
        raise ValueError(f"{csv}: missing columns {missing}")
    d = d[d.order_status != "canceled"]
    placed = _ms(d.order_purchase_timestamp)
    estimated = _ms(d.order_estimated_delivery_date)
    delivered = _ms(d.order_delivered_customer_date)
    ok = (placed >= 0) & (estimated >= 0) & d.review_score.notna().to_numpy()
    placed, estimated, delivered = placed[ok], estimated[ok], delivered[ok]
    review = d.review_score.to_numpy(np.float64)[ok]
    promised = np.ceil((estimated - placed) / DAY_MS)
    as_of = int(placed.max()) + 1
    known, on_time, days_late = delivery_lateness(placed, delivered, promised, as_of)
    k = known
    return {
        "orders": int(k.sum()),
        "late_share": float(1 - on_time[k].mean()),
        "spearman_on_time_vs_review": float(spearmanr(on_time[k], review[k]).statistic),
        "spearman_days_late_vs_review": float(spearmanr(days_late[k], review[k]).statistic),
        "mean_review_on_time": float(review[k & on_time].mean()),
        "mean_review_late": float(review[k & ~on_time].mean()),
    }
