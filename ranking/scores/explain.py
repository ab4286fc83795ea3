"""Why a store or product has its score: each dimension, the rates and the event counts; and
what a whole score run rests on (its window and event counts, with a warning when empty)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.scores.compute import PlatformScores
from ranking.scores.product_score import PRODUCT_DIMENSIONS
from ranking.scores.store_experience import STORE_DIMENSIONS

STORE_DETAIL = {
    "product_quality": [("negative_review_rate", "negative_reviews_n", "reviews_n"),
                        ("quality_return_rate", "quality_returns_n", "orders_n")],
    "logistics": [("on_time_ship_rate", "late_shipments_n", None),
                  ("on_time_delivery_rate", "late_deliveries_n", None)],
    "service": [("mean_log_response", "tickets_n", None), ("dispute_rate", "disputes_n", "orders_n"),
                ("resolution_rate", "tickets_n", None)],
    "stability": [("weekly_orders_cv", "orders_n", None), ("cancellation_rate", "cancelled_n", "orders_n")],
}


def _fmt(x) -> str:
    if isinstance(x, float | np.floating):
        return f"{x:.4g}"
    return str(x)


def explain_store(scores: PlatformScores, store_id: int) -> str:
    if store_id not in scores.stores.index:
        raise KeyError(f"store {store_id} is not in this dataset")
    r = scores.stores.loc[store_id]
    lines = [f"store {store_id}: store experience score {r.store_experience_score:.1f} / 100"
             + ("  [DEMOTED: quality returns far above its category]" if r.demoted else ""),
             f"  category {int(r.category_id)}; returning-customer index {r.returning_customer_index:.1f}"
             f" (repeat-purchase rate {r.repeat_purchase_rate:.3f} of {int(r.buyers_n)} buyers,"
             f" returning buyers' positive reviews {r.returning_positive_review_rate:.3f})"]
    for d in STORE_DIMENSIONS:
        lines.append(f"  {d:<16} {r[f'store_{d}']:6.1f}  (percentile within the category)")
        for rate, count, denom in STORE_DETAIL[d]:
            extra = f"{int(r[count])} {count[:-2].replace('_', ' ')}"
            if denom:
                extra += f" of {int(r[denom])} {denom[:-2].replace('_', ' ')}"
            lines.append(f"      {rate.replace('_', ' '):<28} {_fmt(r[rate]):>8}   ({extra})")
    return "\n".join(lines)


def explain_product(scores: PlatformScores, product_id: int) -> str:
    if product_id not in scores.products.index:
        raise KeyError(f"product {product_id} is not in this dataset")
    r = scores.products.loc[product_id]
    flags = (" [BANNED]" if r.banned else "") + (" [DEMOTED]" if r.demoted else "")
    lines = [f"product {product_id}: product score {r.product_score:.1f} / 100, "
             f"grade {r.product_grade}{flags}",
             f"  store {int(r.store_id)}, category {int(r.category_id)}"]
    detail = {
        "information": f"completeness {r.information_raw:.2f} (title, images, attributes)",
        "popularity": f"CTR {r.ctr:.4f} ({int(r.clicks_n)} clicks / {int(r.impressions_n)} impressions), "
                      f"CVR {r.cvr:.4f} ({int(r.orders_n)} orders), sales velocity {r.sales_velocity:.3f}",
        "quality": f"rating {r.rating:.2f} ({int(r.reviews_n)} reviews), quality-return rate "
                   f"{r.quality_return_rate:.4f} ({int(r.quality_returns_n)} quality returns)",
        "service": "its store's service dimension",
        "brand": "brand tier and the brand's orders in this category",
        "price": f"price advantage {r.price_advantage:+.3f} vs {r.price_advantage_source} "
                 f"(reference price {r.reference_price:.2f})",
    }
    for d in PRODUCT_DIMENSIONS:
        lines.append(f"  {d:<12} {r[f'product_{d}']:6.1f}   {detail[d]}")
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
