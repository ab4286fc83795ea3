"""Why a store or product has its score: each dimension on its 0-100 scale, the smoothed rates
the score uses beside the raw counts they come from (labelled as such, so "0 late of 3
shipments" and an on-time rate of 0.967 no longer read as a contradiction), the names beside
the ids; and what a whole score run rests on (its window and event counts, with a warning
when empty)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.scores.compute import PlatformScores
from ranking.scores.product_score import PRODUCT_DIMENSIONS
from ranking.scores.returning_customers import RETURNING_DIMENSIONS
from ranking.scores.store_experience import STORE_DIMENSIONS

SMOOTHED = ("smoothed = recency-weighted over the window and shrunk toward the category's rate by "
            "{k:g} pseudo-events (scores.prior_strength), what the score uses; raw = plain counts in the "
            "window")


@dataclass(frozen=True)
class Rate:
    """One rate behind a dimension: its smoothed column and the raw counts it comes from."""

    label: str
    column: str
    count: str  # the raw count column (``*_n``)
    count_word: str
    trials: str | None = None  # its denominator column, None when the rate has no plain count one
    trials_word: str = ""
    complement: bool = False  # the rate is 1 - count / trials (on time = 1 - late / known)


STORE_DETAIL = {
    "product_quality": [Rate("negative-review rate", "negative_review_rate", "negative_reviews_n",
                             "negative reviews", "reviews_n", "reviews"),
                        Rate("quality-return rate", "quality_return_rate", "quality_returns_n",
                             "quality returns", "orders_n", "orders")],
    "logistics": [Rate("on-time shipping rate", "on_time_ship_rate", "late_shipments_n", "late",
                       "shipments_n", "shipments", complement=True),
                  Rate("on-time delivery rate", "on_time_delivery_rate", "late_deliveries_n", "late",
                       "deliveries_n", "deliveries", complement=True)],
    "service": [Rate("mean log first response (log s)", "mean_log_response", "tickets_n", "tickets"),
                Rate("dispute rate", "dispute_rate", "disputes_n", "disputes", "orders_n", "orders"),
                Rate("resolution rate", "resolution_rate", "resolved_n", "resolved", "tickets_n", "tickets")],
    "stability": [Rate("weekly orders variation (CV)", "weekly_orders_cv", "orders_n", "orders"),
                  Rate("cancellation rate", "cancellation_rate", "cancelled_n", "cancelled", "orders_n",
                       "orders")],
}

RETURNING_DETAIL = {
    "quality_value": [Rate("positive-review rate", "positive_review_rate", "positive_reviews_n", "positive",
                           "reviews_n", "reviews"),
                      Rate("quality-return rate", "quality_return_rate", "quality_returns_n",
                           "quality returns", "orders_n", "orders"),
                      Rate("value (mean price advantage)", "value_for_money", "value_products_n",
                           "products")],
    "service": [Rate("cancellation rate", "cancellation_rate", "cancelled_n", "cancelled", "orders_n",
                     "orders"),
                STORE_DETAIL["logistics"][0],
                Rate("ticket rate", "ticket_rate", "tickets_n", "tickets", "orders_n", "orders"),
                Rate("dispute rate", "dispute_rate", "disputes_n", "disputes", "orders_n", "orders"),
                Rate("resolution rate", "resolution_rate", "resolved_n", "resolved", "tickets_n", "tickets"),
                STORE_DETAIL["service"][0]],
    "content": [Rate("content engagement rate", "content_engagement_rate", "content_engagements_n",
                     "engagements", "content_views_n", "views"),
                Rate("content report rate", "content_report_rate", "content_reports_n", "reports",
                     "content_views_n", "views")],
    "repeat": [Rate("repeat-purchase rate", "repeat_purchase_rate", "returning_buyers_n", "returning buyers",
                    "buyers_n", "buyers"),
               Rate("returning buyers' good reviews", "returning_positive_review_rate",
                    "returning_positive_reviews_n", "positive", "returning_reviews_n", "reviews")],
}
RETURNING_LABELS = {"quality_value": "quality and value for money", "service": "pre- and after-sale service",
                    "content": "content interaction", "repeat": "repeat purchase"}


@dataclass
class Names:
    """Display names beside the ids: stores, products (titles) and categories."""

    stores: dict[int, str] = field(default_factory=dict)
    products: dict[int, str] = field(default_factory=dict)
    categories: dict[int, str] = field(default_factory=dict)

    def store(self, i: int) -> str:
        return _named(i, self.stores.get(i))

    def product(self, i: int) -> str:
        return _named(i, self.products.get(i))

    def category(self, i: int) -> str:
        return _named(i, self.categories.get(i))


def load_names(data_dir: str | Path) -> Names:
    """The names of a dataset folder's stores, products and categories."""
    from ranking.contracts.frames import load_frames

    t = load_frames(data_dir, ["stores", "products", "categories"],
                    {"stores": ["store_id", "name"], "products": ["product_id", "title"],
                     "categories": ["category_id", "name"]})
    as_dict = lambda df, key, name: dict(zip(df[key].astype(int), df[name].astype(str), strict=True))  # noqa: E731
    return Names(as_dict(t["stores"], "store_id", "name"), as_dict(t["products"], "product_id", "title"),
                 as_dict(t["categories"], "category_id", "name"))


def _named(i: int, name: str | None) -> str:
    return f"{i} ({name})" if name else str(i)


def _fmt(x) -> str:
    if isinstance(x, float | np.floating):
        return f"{x:.4g}"
    return str(x)


def rate_line(r: pd.Series, rate: Rate) -> str:
    """``label  smoothed 0.967   raw: 0 late of 3 shipments = 1.000``."""
    count = int(r[rate.count])
    raw = f"{count} {rate.count_word}"
    if rate.trials is not None:
        trials = int(r[rate.trials])
        raw += f" of {trials} {rate.trials_word}"
        if trials:
            share = count / trials
            raw += f" = {1 - share if rate.complement else share:.3f}"
    return f"      {rate.label:<32} smoothed {_fmt(r[rate.column]):>8}   raw: {raw}"


def explain_store(scores: PlatformScores, store_id: int, names: Names | None = None,
                  prior_strength: float = 20.0) -> str:
    if store_id not in scores.stores.index:
        raise KeyError(f"store {store_id} is not in this dataset")
    names = names or Names()
    r = scores.stores.loc[store_id]
    lines = [f"store {store_id}: store experience score {r.store_experience_score:.1f} / 100"
             + ("  [DEMOTED: quality returns far above its category]" if r.demoted else ""),
             f"  name {names.stores.get(store_id, '(unknown)')}; "
             f"category {names.category(int(r.category_id))}",
             "  " + SMOOTHED.format(k=prior_strength)]
    for d in STORE_DIMENSIONS:
        lines.append(f"  {d:<16} {r[f'store_{d}']:5.1f} / 100  (percentile of its rates within the category)")
        lines.extend(rate_line(r, rate) for rate in STORE_DETAIL[d])
    lines.append(f"  returning-customer index {r.returning_customer_index:.1f} / 100 (its four dimensions, "
                 "scores.returning_customer_weights)")
    for d in RETURNING_DIMENSIONS:
        lines.append(f"    {RETURNING_LABELS[d]:<28} {r[f'returning_{d}']:5.1f} / 100")
        lines.extend("  " + rate_line(r, rate) for rate in RETURNING_DETAIL[d])
    return "\n".join(lines)


def explain_creator(scores: PlatformScores, creator_id: int) -> str:
    """A creator's reputation score, its three reputations and the counts behind them."""
    c = scores.creators
    if c is None or creator_id not in c.index:
        raise KeyError(f"creator {creator_id} is not in this dataset")
    r = c.loc[creator_id]
    return "\n".join([
        f"creator {creator_id}: creator reputation {r.creator_reputation:.1f} / 100, grade {r.creator_grade}",
        f"  content {r.creator_content:5.1f} / 100   engagement rate smoothed {r.engagement_rate:.4f}, "
        f"report rate smoothed {r.report_rate:.5f}; raw: {int(r.engagements_n)} engagements and "
        f"{int(r.reports_n)} reports of {int(r.views_n)} views",
        f"  product {r.creator_product:5.1f} / 100   quality-return rate smoothed "
        f"{r.quality_return_rate:.4f}, negative-review rate smoothed {r.negative_review_rate:.4f}; "
        f"raw: {int(r.orders_n)} attributed orders",
        f"  service {r.creator_service:5.1f} / 100   ticket rate smoothed {r.ticket_rate:.4f}, dispute rate "
        f"smoothed {r.dispute_rate:.4f}, mean log first response {r.mean_log_response:.2f}",
        "  percentiles among all creators; rates recency-weighted over the window and shrunk toward "
        "the mall's"])


def explain_product(scores: PlatformScores, product_id: int, names: Names | None = None,
                    prior_strength: float = 20.0) -> str:
    if product_id not in scores.products.index:
        raise KeyError(f"product {product_id} is not in this dataset")
    names = names or Names()
    r = scores.products.loc[product_id]
    flags = (" [BANNED]" if r.banned else "") + (" [DEMOTED]" if r.demoted else "")
    raw = lambda n, d: f" = {n / d:.4f}" if d else ""  # noqa: E731
    detail = {
        "information": [f"completeness {r.information_raw:.2f} (title, images, attributes)"],
        "popularity": [f"CTR smoothed {r.ctr:.4f}; raw: {int(r.clicks_n)} clicks of {int(r.impressions_n)} "
                       f"impressions{raw(r.clicks_n, r.impressions_n)}",
                       f"CVR smoothed {r.cvr:.4f}; raw: {int(r.orders_n)} orders of {int(r.clicks_n)} "
                       f"clicks{raw(r.orders_n, r.clicks_n)}",
                       f"sales velocity {r.sales_velocity:.3f} units/day (recency-weighted)"],
        "quality": [f"rating smoothed {r.rating:.2f}/5; raw: {int(r.reviews_n)} reviews",
                    f"quality-return rate smoothed {r.quality_return_rate:.4f}; "
                    f"raw: {int(r.quality_returns_n)} quality returns of {int(r.orders_n)} orders"
                    f"{raw(r.quality_returns_n, r.orders_n)}"],
        "service": ["its store's service dimension"],
        "brand": ["brand tier and the brand's orders in this category"],
        "price": [f"price advantage {r.price_advantage:+.3f} vs {r.price_advantage_source} "
                  f"(reference price {r.reference_price:.2f})"],
    }
    lines = [f"product {product_id}: product score {r.product_score:.1f} / 100, "
             f"grade {r.product_grade}{flags}",
             f"  title {names.products.get(product_id, '(unknown)')}",
             f"  store {names.store(int(r.store_id))}, category {names.category(int(r.category_id))}",
             "  " + SMOOTHED.format(k=prior_strength)]
    for d in PRODUCT_DIMENSIONS:
        first, *rest = detail[d]
        lines.append(f"  {d:<12} {r[f'product_{d}']:5.1f} / 100   {first}")
        lines.extend(f"  {'':<12} {'':>11}   {line}" for line in rest)
    if "creator_reputation" in r and np.isfinite(r.creator_reputation):
        lines.append(f"  creators' reputation {r.creator_reputation:.1f} / 100 (the best creator "
                     "featuring it; not part of the product score)")
    return "\n".join(lines)


def window_summary(result: PlatformScores, window_days: int) -> tuple[str, str | None]:
    """What the scores rest on (the window and its event counts) and a warning when it holds
    no events or no orders: the rates are then their category's prior, the percentiles ties."""
    end = pd.Timestamp(result.as_of_ms, unit="ms", tz="UTC")
    s, p = result.stores, result.products
    counts = {"impressions": int(p.impressions_n.sum()), "clicks": int(p.clicks_n.sum()),
              "orders": int(s.orders_n.sum()), "reviews": int(s.reviews_n.sum())}
    line = (f"window {end - pd.Timedelta(days=window_days):%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: "
            + ", ".join(f"{n:,} {name}" for name, n in counts.items()))
    warning = None
    if not any(counts.values()):
        warning = ("warning: no impressions, clicks, orders or reviews in the window: every store's and "
                   "product's event rates are their category's prior (scores ~50); check --as-of and "
                   "scores.window_days")
    elif not counts["orders"]:
        warning = ("warning: no orders in the window: every order-based rate (returns, shipping, "
                   "cancellations, sales) is its category's prior")
    return line, warning
