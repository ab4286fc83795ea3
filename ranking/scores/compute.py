"""Entry points: every store's and product's scores as of a moment.

``compute_scores_from_tables(tables, as_of_ms, settings)`` takes the contract tables as
pandas frames with epoch-ms timestamps (:func:`ranking.contracts.frames.load_frames`), so
training can score many past days from one load; ``compute_scores(data_dir, as_of,
settings)`` loads them first (``as_of`` None = the end of the last logged day... i.e. just
after the last event). Pandas + numpy: group-wise sums are ``np.bincount`` over dense
positions and percentiles a pandas group rank, so the whole default mall (10M
impressions) scores in a few seconds without another engine to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.scores.aggregates import aggregate, index_of
from ranking.scores.creator_reputation import (
    CREATOR_TABLES,
    content_counts,
    creator_reputation,
    product_creator_reputation,
)
from ranking.scores.governance import demotion_flags
from ranking.scores.price_advantage import price_advantage
from ranking.scores.product_score import (
    TIER_STRENGTH,
    grade,
    product_dimensions,
    product_score,
    product_signals,
)
from ranking.scores.returning_customers import returning_customer_index, returning_rates
from ranking.scores.store_experience import store_dimensions, store_experience_score, store_rates
from ranking.settings import ScoreSettings

SCORE_TABLES = ("categories", "brands", "stores", "products", "reference_prices", "impressions",
                "clicks", "orders", "shipments", "returns", "reviews", "service_tickets", *CREATOR_TABLES)
# impressions are ten times any other table and the scores count them per product in time:
# reading their other seven columns tripled the large mall's peak memory (100M rows)
SCORE_COLUMNS = {"impressions": ("timestamp", "product_id")}


class ScoresDataError(ValueError):
    """A dataset that cannot be scored as asked; the message names the table and the option."""


@dataclass
class PlatformScores:
    as_of_ms: int
    stores: pd.DataFrame  # index store_id
    products: pd.DataFrame  # index product_id
    creators: pd.DataFrame | None = None  # index creator_id; empty for a mall without creators

    def to_frame(self) -> pd.DataFrame:
        """One long table: entity ('store' | 'product' | 'creator'), id, then every column."""
        s = self.stores.reset_index().rename(columns={"store_id": "id"}).assign(entity="store")
        p = self.products.reset_index().rename(columns={"product_id": "id"}).assign(entity="product")
        parts = [s, p]
        if self.creators is not None and len(self.creators):
            c = self.creators.reset_index().rename(columns={"creator_id": "id"})
            parts.append(c.assign(entity="creator"))
        out = pd.concat(parts, ignore_index=True, sort=False)
        out.insert(0, "as_of", pd.Timestamp(self.as_of_ms, unit="ms", tz="UTC"))
        return out[["as_of", "entity", "id", *[c for c in out.columns if c not in ("as_of", "entity", "id")]]]


def _top_category(categories: pd.DataFrame, category_ids: np.ndarray) -> np.ndarray:
    parent = categories.set_index("category_id").parent_id
    top = pd.Series(category_ids).map(parent)
    return top.fillna(pd.Series(category_ids)).to_numpy(np.int64)


def main_category(store_row: np.ndarray, category: np.ndarray, n_stores: int) -> np.ndarray:
    """Each store's most frequent category among its products (the smallest id on a tie, as
    ``Series.mode`` orders them), -1 for a store without products. Vectorised: counts of the
    (store, category) pairs, the first of each store's sorted by count down then id up."""
    pairs = pd.DataFrame({"s": store_row, "c": category}).groupby(["s", "c"]).size().reset_index(name="n")
    pairs = pairs.sort_values(["s", "n", "c"], ascending=[True, False, True], kind="stable")
    first = pairs.drop_duplicates("s")
    out = np.full(n_stores, -1, dtype=np.int64)
    keep = (first.s.to_numpy() >= 0) & (first.s.to_numpy() < n_stores)
    out[first.s.to_numpy()[keep]] = first.c.to_numpy(np.int64)[keep]
    return out


def compute_scores_from_tables(tables: dict[str, pd.DataFrame], as_of_ms: int,
                               settings: ScoreSettings) -> PlatformScores:
    """Scores as of ``as_of_ms`` from events strictly before it (see the module docstring)."""
    k = settings.prior_strength
    products = tables["products"].sort_values("product_id").reset_index(drop=True)
    stores = tables["stores"].sort_values("store_id").reset_index(drop=True)
    agg = aggregate(tables, as_of_ms, settings)
    leaf = products.category_id.to_numpy(np.int64)
    top = _top_category(tables["categories"], leaf)
    sid = stores.store_id.to_numpy(np.int64)
    p_store = index_of(products.store_id.to_numpy(), sid)

    # a store's category: the top-level category most of its products are in
    store_cat = main_category(p_store, top, len(sid))

    rates = store_rates(agg.stores, store_cat, k)
    s_dims = store_dimensions(rates, store_cat)

    signals = product_signals(products, agg.products, leaf, k, settings.window_days)
    adv = price_advantage(products, tables["reference_prices"], signals.rating.to_numpy(), leaf,
                          as_of_ms, settings.window_days, settings.price_advantage_clip)
    tiers = tables["brands"].set_index("brand_id").tier.map(TIER_STRENGTH)
    brand = products.brand_id.to_numpy(np.int64)
    brand_orders = pd.Series(agg.products.orders_w.to_numpy()).groupby([brand, leaf]).transform("sum")
    strength = pd.Series(brand).map(tiers).fillna(0).to_numpy() + np.log1p(brand_orders.to_numpy())
    store_service = np.where(p_store >= 0, s_dims.store_service.to_numpy()[np.maximum(p_store, 0)], 50.0)
    p_dims = product_dimensions(signals, leaf, store_service, strength, adv.price_advantage.to_numpy())
    p_out = pd.concat([p_dims, signals, adv, agg.products], axis=1)
    score = product_score(p_dims, settings.product_weights)
    p_out.insert(0, "product_score", score)
    p_out.insert(1, "product_grade", grade(score))
    p_out["banned"] = products.banned.to_numpy(bool)
    p_out["demoted"] = demotion_flags(agg.products.quality_returns_w.to_numpy(),
                                      agg.products.orders_w.to_numpy(), agg.products.orders_n.to_numpy(),
                                      leaf, settings.demotion_ratio, settings.demotion_min_orders)
    p_out["store_id"] = products.store_id.to_numpy()
    p_out["category_id"] = leaf
    creators = creator_reputation(tables, as_of_ms, settings)
    p_out["creator_reputation"] = product_creator_reputation(
        tables.get("creator_content"), creators, products.product_id.to_numpy(np.int64), as_of_ms)

    value = np.zeros((len(sid), 2))  # per store: summed price advantage, products
    on = p_store >= 0
    np.add.at(value, p_store[on], np.c_[np.nan_to_num(adv.price_advantage.to_numpy()[on]), np.ones(on.sum())])
    content = _store_content(tables, products, sid, as_of_ms, settings.window_days)
    r_rates = returning_rates(agg.stores, store_cat, k, value, content, settings.creator_prior_views)
    rci = returning_customer_index(r_rates, rates, store_cat, settings.returning_customer_weights)
    s_out = pd.concat([s_dims, rates, rci, r_rates, content.add_prefix("content_"), agg.stores], axis=1)
    s_out.insert(0, "store_experience_score", store_experience_score(s_dims, settings))
    s_out["category_id"] = store_cat
    s_out["value_products_n"] = value[:, 1]
    s_out["demoted"] = demotion_flags(agg.stores.quality_returns_w.to_numpy(),
                                      agg.stores.orders_w.to_numpy(), agg.stores.orders_n.to_numpy(),
                                      store_cat, settings.demotion_ratio, settings.demotion_min_orders)
    return PlatformScores(int(as_of_ms), s_out, p_out, creators)


def _store_content(tables: dict[str, pd.DataFrame], products: pd.DataFrame, sid: np.ndarray,
                   as_of_ms: int, window_days: int) -> pd.DataFrame:
    """Views, engagements and reports of the window's creator content, per store of the
    featured product (zeros for a mall without creators)."""
    content = tables.get("creator_content")
    if content is None:
        content = pd.DataFrame({c: np.zeros(0, np.int64) for c in
                                ("product_id", "published_at", "views", "engagements", "reports")})
    store_of = pd.Series(products.store_id.to_numpy(np.int64), index=products.product_id.to_numpy())
    content = content.assign(store_id=store_of.reindex(content.product_id.to_numpy()).fillna(-1)
                             .to_numpy(np.int64))
    return content_counts(content, sid, "store_id", as_of_ms, window_days)


def end_of_data_ms(tables: dict[str, pd.DataFrame]) -> int:
    """Just after the last logged event (the default as-of moment); a :class:`ScoresDataError`
    when neither impressions nor orders hold a row."""
    logged = [int(tables[t].timestamp.max()) for t in ("impressions", "orders") if len(tables[t])]
    if not logged:
        raise ScoresDataError("impressions and orders are both empty: there is no last event to "
                              "score as of; pass --as-of")
    return max(logged) + 1


def compute_scores(data_dir: str | Path, as_of: datetime | None, settings: ScoreSettings) -> PlatformScores:
    """Load a dataset folder and score it as of ``as_of`` (default: after its last event)."""
    from ranking.contracts.frames import load_frames

    tables = load_frames(data_dir, SCORE_TABLES, SCORE_COLUMNS)
    if as_of is None:
        as_of_ms = end_of_data_ms(tables)
    else:
        as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        as_of_ms = int(as_of.timestamp() * 1000)
    return compute_scores_from_tables(tables, as_of_ms, settings)
