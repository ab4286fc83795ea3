"""Event counts behind the scores, per store and per product, as of a moment.

Every count is over the scoring window and recency weighted (:mod:`ranking.scores.window`);
the ``*_n`` columns are plain counts for ``shelfrank scores explain``. Rules for "as of T":
an order placed before T counts; its shipment counts as shipped only if shipped before T
and as delivered only if delivered before T; an order still unshipped (undelivered) when
its promise has passed at T counts as late; returns, reviews and tickets count only if
made before T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranking.scores.window import DAY_MS, in_window, recency_weight
from ranking.settings import ScoreSettings

QUALITY_REASONS = ("quality", "not_as_described")
HOUR_MS = 3_600_000
DENSE_SPAN = 4  # index_of's table: an id range up to this many times the ids' count


def index_of(ids: np.ndarray, sorted_ids: np.ndarray) -> np.ndarray:
    """Position of each id in ``sorted_ids`` (-1 when absent).

    Ids spanning a range at most ``DENSE_SPAN`` times their count (a mall's product and store
    ids) are looked up in a table of the range, a gather instead of a binary search: training
    builds a snapshot a day, each counting millions of impressions by product."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1)
    lo, hi = int(sorted_ids[0]), int(sorted_ids[-1])
    if hi - lo < DENSE_SPAN * len(sorted_ids):
        table = np.full(hi - lo + 1, -1, dtype=np.int64)
        table[np.asarray(sorted_ids, dtype=np.int64) - lo] = np.arange(len(sorted_ids))
        inside = (ids >= lo) & (ids <= hi)
        return np.where(inside, table[np.where(inside, ids - lo, 0)], -1)
    pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)


def _sum(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    ok = index >= 0
    return np.bincount(index[ok], weights=np.asarray(weights, dtype=np.float64)[ok], minlength=n)


def delivery_lateness(placed_ms: np.ndarray, delivered_ms: np.ndarray, promised_days: np.ndarray,
                      as_of_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(known, on time, days late) of deliveries as the logistics dimension counts them.

    The deadline is payment + promised days. A delivery before ``as_of`` is on time when
    it met the deadline; an order undelivered at ``as_of`` with its deadline passed is
    known and late (days late so far); otherwise it is pending and not counted.
    ``delivered_ms`` is -1 when not delivered.
    """
    deadline = placed_ms + promised_days * DAY_MS
    delivered = (delivered_ms >= 0) & (delivered_ms < as_of_ms)
    known = delivered | (as_of_ms > deadline)
    on_time = delivered & (delivered_ms <= deadline)
    days_late = np.where(delivered, np.maximum(delivered_ms - deadline, 0) / DAY_MS,
                         np.where(known, (as_of_ms - deadline) / DAY_MS, 0.0))
    return known, on_time, days_late


@dataclass
class Aggregates:
    stores: pd.DataFrame  # index store_id
    products: pd.DataFrame  # index product_id


def aggregate(tables: dict[str, pd.DataFrame], as_of_ms: int, settings: ScoreSettings) -> Aggregates:
    products = tables["products"].sort_values("product_id")
    stores = tables["stores"].sort_values("store_id")
    pid = products.product_id.to_numpy(np.int64)
    sid = stores.store_id.to_numpy(np.int64)
    n_p, n_s = len(pid), len(sid)
    w_days, half = settings.window_days, settings.half_life_days

    def window(frame: pd.DataFrame, col: str = "timestamp") -> tuple[pd.DataFrame, np.ndarray]:
        ts = frame[col].to_numpy(np.int64)
        mask = in_window(ts, as_of_ms, w_days)
        sub = frame[mask]
        return sub, recency_weight(ts[mask], as_of_ms, half)

    per_product: dict[str, np.ndarray] = {}
    per_store: dict[str, np.ndarray] = {}

    # impressions are the one table ten times the others: take the one column needed, no frame copy
    imp_ts = tables["impressions"].timestamp.to_numpy(np.int64)
    imp_mask = in_window(imp_ts, as_of_ms, w_days)
    imp_p = index_of(tables["impressions"].product_id.to_numpy()[imp_mask], pid)
    per_product["impressions_w"] = _sum(imp_p, recency_weight(imp_ts[imp_mask], as_of_ms, half), n_p)
    per_product["impressions_n"] = _sum(imp_p, np.ones(len(imp_p)), n_p)
    del imp_ts, imp_mask, imp_p
    clk, w = window(tables["clicks"])
    per_product["clicks_w"] = _sum(index_of(clk.product_id.to_numpy(), pid), w, n_p)
    per_product["clicks_n"] = _sum(index_of(clk.product_id.to_numpy(), pid), np.ones(len(clk)), n_p)

    orders, ow = window(tables["orders"])
    o_p = index_of(orders.product_id.to_numpy(), pid)
    o_s = index_of(orders.store_id.to_numpy(), sid)
    cancelled = orders.cancelled.to_numpy(bool)
    per_product["orders_w"] = _sum(o_p, ow * ~cancelled, n_p)
    per_product["orders_n"] = _sum(o_p, (~cancelled).astype(float), n_p)
    per_product["units_w"] = _sum(o_p, ow * ~cancelled * orders.quantity.to_numpy(), n_p)
    per_store["orders_w"] = _sum(o_s, ow, n_s)
    per_store["orders_n"] = _sum(o_s, np.ones(len(orders)), n_s)
    per_store["cancelled_w"] = _sum(o_s, ow * cancelled, n_s)
    per_store["cancelled_n"] = _sum(o_s, cancelled.astype(float), n_s)

    # logistics: shipments of the window's (not cancelled) orders
    live = orders[~cancelled][["order_id", "timestamp", "store_id"]]
    ship = tables["shipments"][["order_id", "shipped_at", "delivered_at", "promised_days"]]
    sh = live.merge(ship, on="order_id", how="left")
    sw = recency_weight(sh.timestamp.to_numpy(np.int64), as_of_ms, half)
    s_idx = index_of(sh.store_id.to_numpy(), sid)
    placed = sh.timestamp.to_numpy(np.int64)
    shipped_at = sh.shipped_at.fillna(-1).to_numpy(np.int64)
    delivered_at = sh.delivered_at.fillna(-1).to_numpy(np.int64)
    promised = sh.promised_days.fillna(3).to_numpy(np.float64)
    ship_deadline = placed + settings.on_time_ship_hours * HOUR_MS
    shipped = (shipped_at >= 0) & (shipped_at < as_of_ms)
    ship_known = shipped | (as_of_ms > ship_deadline)  # shipped, or already late
    ship_on_time = shipped & (shipped_at <= ship_deadline)
    deliver_known, deliver_on_time, days_late = delivery_lateness(placed, delivered_at, promised, as_of_ms)
    per_store["ships_known_w"] = _sum(s_idx, sw * ship_known, n_s)
    per_store["ships_on_time_w"] = _sum(s_idx, sw * ship_on_time, n_s)
    per_store["late_shipments_n"] = _sum(s_idx, (ship_known & ~ship_on_time).astype(float), n_s)
    per_store["shipments_n"] = _sum(s_idx, ship_known.astype(float), n_s)  # the late ones' denominator
    per_store["deliveries_known_w"] = _sum(s_idx, sw * deliver_known, n_s)
    per_store["deliveries_on_time_w"] = _sum(s_idx, sw * deliver_on_time, n_s)
    per_store["late_deliveries_n"] = _sum(s_idx, (deliver_known & ~deliver_on_time).astype(float), n_s)
    per_store["deliveries_n"] = _sum(s_idx, deliver_known.astype(float), n_s)
    per_store["days_late_w"] = _sum(s_idx, sw * days_late * deliver_known, n_s)

    # reviews and returns
    rev, rw = window(tables["reviews"])
    rating = rev.rating.to_numpy(np.float64)
    r_p = index_of(rev.product_id.to_numpy(), pid)
    r_s = index_of(rev.store_id.to_numpy(), sid)
    per_product["reviews_w"] = _sum(r_p, rw, n_p)
    per_product["reviews_n"] = _sum(r_p, np.ones(len(rev)), n_p)
    per_product["rating_sum_w"] = _sum(r_p, rw * rating, n_p)
    per_store["reviews_w"] = _sum(r_s, rw, n_s)
    per_store["reviews_n"] = _sum(r_s, np.ones(len(rev)), n_s)
    per_store["negative_reviews_w"] = _sum(r_s, rw * (rating <= 2), n_s)
    per_store["negative_reviews_n"] = _sum(r_s, (rating <= 2).astype(float), n_s)
    per_store["positive_reviews_w"] = _sum(r_s, rw * (rating >= 4), n_s)
    per_store["positive_reviews_n"] = _sum(r_s, (rating >= 4).astype(float), n_s)
    ret, tw = window(tables["returns"])
    quality = ret.reason.isin(QUALITY_REASONS).to_numpy()
    t_p = index_of(ret.product_id.to_numpy(), pid)
    t_s = index_of(ret.store_id.to_numpy(), sid)
    per_product["quality_returns_w"] = _sum(t_p, tw * quality, n_p)
    per_product["quality_returns_n"] = _sum(t_p, quality.astype(float), n_p)
    per_store["quality_returns_w"] = _sum(t_s, tw * quality, n_s)
    per_store["quality_returns_n"] = _sum(t_s, quality.astype(float), n_s)
    per_store["returns_n"] = _sum(t_s, np.ones(len(ret)), n_s)

    # service tickets
    tick, kw = window(tables["service_tickets"], "opened_at")
    k_s = index_of(tick.store_id.to_numpy(), sid)
    frt = np.log1p(tick.first_response_seconds.to_numpy(np.float64))
    per_store["tickets_w"] = _sum(k_s, kw, n_s)
    per_store["tickets_n"] = _sum(k_s, np.ones(len(tick)), n_s)
    per_store["log_response_sum_w"] = _sum(k_s, kw * frt, n_s)
    per_store["disputes_w"] = _sum(k_s, kw * tick.escalated_to_dispute.to_numpy(bool), n_s)
    per_store["disputes_n"] = _sum(k_s, tick.escalated_to_dispute.to_numpy(bool).astype(float), n_s)
    per_store["resolved_w"] = _sum(k_s, kw * tick.resolved.to_numpy(bool), n_s)
    per_store["resolved_n"] = _sum(k_s, tick.resolved.to_numpy(bool).astype(float), n_s)

    # order-volume steadiness: coefficient of variation of weekly order counts
    weeks = max(1, w_days // 7)
    week = ((as_of_ms - placed) // (7 * DAY_MS)).astype(np.int64)
    ok = (week >= 0) & (week < weeks) & (s_idx >= 0)
    counts = np.zeros((n_s, weeks))
    np.add.at(counts, (s_idx[ok], week[ok]), 1.0)
    opened = stores.opened_at.to_numpy(np.int64)
    all_orders = tables["orders"].timestamp.to_numpy(np.int64)
    first_log = int(all_orders.min()) if len(all_orders) else as_of_ms
    since = np.maximum(opened, first_log)  # weeks before the log began are unknown, not empty
    open_weeks = np.clip((as_of_ms - since) // (7 * DAY_MS), 1, weeks)
    active = np.arange(weeks)[None, :] < open_weeks[:, None]
    mean = (counts * active).sum(1) / open_weeks
    var = (((counts - mean[:, None]) ** 2) * active).sum(1) / open_weeks
    per_store["weekly_orders_cv_raw"] = np.where(mean > 0, np.sqrt(var) / np.maximum(mean, 1e-9), np.nan)
    per_store["open_weeks"] = open_weeks.astype(np.float64)

    # returning customers: buyers with orders on two or more days, and their reviews
    buyers = orders[~cancelled][["user_id", "store_id", "timestamp"]].copy()
    buyers["day"] = buyers.timestamp // DAY_MS
    days = buyers.groupby(["store_id", "user_id"]).day.nunique().rename("days").reset_index()
    days["returning"] = days.days >= 2
    b_s = index_of(days.store_id.to_numpy(), sid)
    per_store["buyers_n"] = _sum(b_s, np.ones(len(days)), n_s)
    per_store["returning_buyers_n"] = _sum(b_s, days.returning.to_numpy().astype(float), n_s)
    rr = rev[["store_id", "user_id", "rating"]].merge(days[days.returning][["store_id", "user_id"]],
                                                      on=["store_id", "user_id"])
    q_s = index_of(rr.store_id.to_numpy(), sid)
    per_store["returning_reviews_n"] = _sum(q_s, np.ones(len(rr)), n_s)
    per_store["returning_positive_reviews_n"] = _sum(q_s, (rr.rating.to_numpy() >= 4).astype(float), n_s)

    return Aggregates(pd.DataFrame(per_store, index=pd.Index(sid, name="store_id")),
                      pd.DataFrame(per_product, index=pd.Index(pid, name="product_id")))
