"""The creator reputation score (带货口碑分, 0-100) and its three reputations.

Over the scoring window (content by ``published_at``, attributed orders by the order's
time, each order recency weighted like every score: :mod:`ranking.scores.window`):

* **content** = mean(pct(engagement rate), pct(-report rate)) with engagement rate =
  engagements / views and report rate = reports / views of the creator's content, each
  shrunk toward the mall's rate by ``scores.creator_prior_views`` pseudo-views;
* **product** = mean(pct(-quality-return rate), pct(-negative-review rate)) of the orders
  attributed to the creator (``creator_orders``): quality / not-as-described returns per
  order and reviews rated 1-2 per review;
* **service** = mean(pct(-ticket rate), pct(-dispute rate), pct(-mean log first response))
  of the attributed orders: tickets per order, disputes per order, and the mean of
  ``log(1 + first response seconds)`` over their tickets;

every order-based rate shrunk toward the mall's rate by ``scores.prior_strength``
pseudo-orders (pseudo-reviews, pseudo-tickets), so a creator with two orders sits near the
mall, not at the top. Percentiles are among all creators (``100 (rank - 0.5) / n``).
``creator_reputation = sum_r weight_r * reputation_r`` (``scores.creator_weights``, a third
each), graded A-D like the product score.

A product's ``creator_reputation`` is the best score among the creators whose content
published before the as-of moment features it; missing (NaN) when none does. A mall
without creators (the optional tables absent or empty) gets an empty creator frame and a
missing product column; every other score is unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.scores.aggregates import QUALITY_REASONS, index_of
from ranking.scores.product_score import grade
from ranking.scores.shrinkage import percentile_within, shrunk_rate
from ranking.scores.window import in_window, recency_weight
from ranking.settings import ScoreSettings

CREATOR_REPUTATIONS = ("content", "product", "service")
CREATOR_TABLES = ("creators", "creator_content", "creator_orders")


def _mall_shrunk(successes: np.ndarray, trials: np.ndarray, strength: float) -> np.ndarray:
    total = float(np.sum(trials))
    prior = float(np.sum(successes)) / total if total > 0 else 0.0
    return shrunk_rate(successes, trials, prior, strength)


def content_counts(content: pd.DataFrame, ids: np.ndarray, key: str, as_of_ms: int,
                   window_days: int) -> pd.DataFrame:
    """Views, engagements and reports of the window's content, summed per ``key`` (creator_id,
    or store_id when the frame carries it) at the sorted ``ids``."""
    live = content[in_window(content.published_at.to_numpy(np.int64), as_of_ms, window_days)]
    idx = index_of(live[key].to_numpy(), ids)
    ok = idx >= 0
    out = pd.DataFrame(index=pd.Index(ids, name=key))
    for col in ("views", "engagements", "reports"):
        out[f"{col}_n"] = np.bincount(idx[ok], weights=live[col].to_numpy(np.float64)[ok],
                                      minlength=len(ids))
    return out


def attributed_counts(tables: dict[str, pd.DataFrame], creator_ids: np.ndarray, as_of_ms: int,
                      settings: ScoreSettings) -> pd.DataFrame:
    """Recency-weighted orders, quality returns, reviews, negative reviews, tickets, disputes
    and summed log first response of each creator's attributed orders in the window."""
    orders = tables["orders"][["order_id", "timestamp", "cancelled"]]
    credited = tables["creator_orders"][["order_id", "creator_id"]].merge(orders, on="order_id")
    ts = credited.timestamp.to_numpy(np.int64)
    credited = credited[in_window(ts, as_of_ms, settings.window_days)]
    weight = recency_weight(credited.timestamp.to_numpy(np.int64), as_of_ms, settings.half_life_days)
    credited = credited.assign(w=weight)
    n = len(creator_ids)

    def total(frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
        idx = index_of(frame.creator_id.to_numpy(), creator_ids)
        ok = idx >= 0
        return np.bincount(idx[ok], weights=np.asarray(values, np.float64)[ok], minlength=n)

    def joined(name: str, time_col: str) -> pd.DataFrame:
        events = tables[name]
        events = events[events[time_col].to_numpy(np.int64) < as_of_ms]
        return events.merge(credited[["order_id", "creator_id", "w"]], on="order_id")

    out = pd.DataFrame(index=pd.Index(creator_ids, name="creator_id"))
    kept = ~credited.cancelled.to_numpy(bool)
    out["orders_w"] = total(credited, credited.w.to_numpy() * kept)
    out["orders_n"] = total(credited, kept.astype(float))
    ret = joined("returns", "timestamp")
    out["quality_returns_w"] = total(ret, ret.w.to_numpy() * ret.reason.isin(QUALITY_REASONS).to_numpy())
    rev = joined("reviews", "timestamp")
    out["reviews_w"] = total(rev, rev.w.to_numpy())
    out["negative_reviews_w"] = total(rev, rev.w.to_numpy() * (rev.rating.to_numpy() <= 2))
    tick = joined("service_tickets", "opened_at")
    out["tickets_w"] = total(tick, tick.w.to_numpy())
    out["disputes_w"] = total(tick, tick.w.to_numpy() * tick.escalated_to_dispute.to_numpy(bool))
    out["log_response_sum_w"] = total(tick, tick.w.to_numpy()
                                      * np.log1p(tick.first_response_seconds.to_numpy(np.float64)))
    return out


def creator_reputation(tables: dict[str, pd.DataFrame], as_of_ms: int,
                       settings: ScoreSettings) -> pd.DataFrame:
    """Every creator's rates, three reputations, score and grade (index creator_id)."""
    creators = tables.get("creators")
    if creators is None or not len(creators):
        return pd.DataFrame(index=pd.Index(np.zeros(0, np.int64), name="creator_id"),
                            columns=["creator_reputation", "creator_grade"], dtype=float)
    ids = np.sort(creators.creator_id.to_numpy(np.int64))
    k, kv = settings.prior_strength, settings.creator_prior_views
    content = content_counts(tables["creator_content"], ids, "creator_id", as_of_ms, settings.window_days)
    counts = attributed_counts(tables, ids, as_of_ms, settings)
    out = pd.concat([content, counts], axis=1)
    out["engagement_rate"] = _mall_shrunk(content.engagements_n.to_numpy(), content.views_n.to_numpy(), kv)
    out["report_rate"] = _mall_shrunk(content.reports_n.to_numpy(), content.views_n.to_numpy(), kv)
    orders = counts.orders_w.to_numpy()
    out["quality_return_rate"] = _mall_shrunk(counts.quality_returns_w.to_numpy(), orders, k)
    out["negative_review_rate"] = _mall_shrunk(counts.negative_reviews_w.to_numpy(),
                                               counts.reviews_w.to_numpy(), k)
    out["ticket_rate"] = _mall_shrunk(counts.tickets_w.to_numpy(), orders, k)
    out["dispute_rate"] = _mall_shrunk(counts.disputes_w.to_numpy(), orders, k)
    out["mean_log_response"] = _mall_shrunk(counts.log_response_sum_w.to_numpy(),
                                            counts.tickets_w.to_numpy(), k)
    everyone = np.zeros(len(ids), np.int64)

    def pct(col: str, higher_is_better: bool) -> np.ndarray:
        return percentile_within(out[col].to_numpy(), everyone, higher_is_better)

    out["creator_content"] = (pct("engagement_rate", True) + pct("report_rate", False)) / 2
    out["creator_product"] = (pct("quality_return_rate", False) + pct("negative_review_rate", False)) / 2
    out["creator_service"] = (pct("ticket_rate", False) + pct("dispute_rate", False)
                              + pct("mean_log_response", False)) / 3
    weights = settings.creator_weights
    score = sum(weights[r] * out[f"creator_{r}"].to_numpy() for r in CREATOR_REPUTATIONS) / sum(
        weights.values())
    out.insert(0, "creator_reputation", score)
    out.insert(1, "creator_grade", grade(score))
    return out


def product_creator_reputation(content: pd.DataFrame | None, creators: pd.DataFrame,
                               product_ids: np.ndarray, as_of_ms: int) -> np.ndarray:
    """The best ``creator_reputation`` among the creators featuring each product in content
    published before ``as_of_ms`` (NaN when none)."""
    out = np.full(len(product_ids), np.nan)
    if content is None or not len(content) or not len(creators):
        return out
    live = content[content.published_at.to_numpy(np.int64) < as_of_ms]
    score = creators.creator_reputation.reindex(live.creator_id.to_numpy()).to_numpy(np.float64)
    best = pd.Series(score).groupby(live.product_id.to_numpy()).max()
    rows = index_of(best.index.to_numpy(np.int64), np.asarray(product_ids, np.int64))
    ok = rows >= 0
    out[rows[ok]] = best.to_numpy()[ok]
    return out
