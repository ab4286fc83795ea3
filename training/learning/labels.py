"""Graded labels of logged cards: order (3) > add-to-cart (2) > click (1) > skip (0).

A card's label is the strongest thing its shopper did with it in the same request
(events are matched to the impression by ``request_id`` and ``product_id``). The grades
feed LambdaRank's ``label_gain`` (default ``2^grade - 1``: 0, 1, 3, 7).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SKIP, CLICK, CART, ORDER = 0, 1, 2, 3
GRADES = {"skip": SKIP, "click": CLICK, "cart": CART, "order": ORDER}


def _keys(request_id: np.ndarray, product_id: np.ndarray) -> np.ndarray:
    return request_id.astype(np.int64) * (1 << 22) + product_id.astype(np.int64)


def grade_impressions(
    impressions: pd.DataFrame,
    clicks: pd.DataFrame,
    carts: pd.DataFrame,
    orders: pd.DataFrame,
) -> np.ndarray:
    """The grade (0-3) of every impression row, vectorised over all of them."""
    if len(impressions) == 0:
        return np.zeros(0, dtype=np.int8)
    # only events of requests in the impressions' id range can match (a cut's share of the log)
    lo, hi = impressions.request_id.min(), impressions.request_id.max()
    clicks, carts, orders = (ev[(ev.request_id >= lo) & (ev.request_id <= hi)]
                             for ev in (clicks, carts, orders))
    if int(impressions.product_id.max()) >= (1 << 22):
        return _grade_by_merge(impressions, clicks, carts, orders)
    keys = _keys(impressions.request_id.to_numpy(), impressions.product_id.to_numpy())
    grade = np.zeros(len(impressions), dtype=np.int8)
    for events, value in ((clicks, CLICK), (carts, CART), (orders, ORDER)):
        ev = events.dropna(subset=["request_id"])
        if len(ev) == 0:
            continue
        ek = np.unique(_keys(ev.request_id.to_numpy(), ev.product_id.to_numpy()))
        grade = np.where(np.isin(keys, ek), np.maximum(grade, value), grade).astype(np.int8)
    return grade


def _grade_by_merge(impressions, clicks, carts, orders) -> np.ndarray:
    frame = impressions[["request_id", "product_id"]].copy()
    frame["grade"] = 0
    for events, value in ((clicks, CLICK), (carts, CART), (orders, ORDER)):
        ev = events[["request_id", "product_id"]].dropna().drop_duplicates()
        ev = ev.assign(hit=value)
        merged = frame.merge(ev, on=["request_id", "product_id"], how="left")
        frame["grade"] = np.maximum(frame.grade.to_numpy(), merged.hit.fillna(0).to_numpy())
    return frame.grade.to_numpy().astype(np.int8)
