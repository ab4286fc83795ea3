"""What the snapshot can know of a product at listing time: its row of ``snapshot.products``.

From the listing itself: store, brand, leaf and top category, price, list price, stock,
subsidy, ban, comparable group and ``listed_at`` (epoch ms). From the bundle:

* ``price_advantage`` with the functions scoring uses
  (:func:`ranking.scores.price_advantage.median_of_others` and ``combine_advantage``):
  against the median price of the other live listings of its comparable group (the
  snapshot's ``comparable_group_id`` column, -1 where a bundle built before it was recorded
  does not say, plus the products added since) and the outside price its group already has
  in the bundle (``outside_price``, NaN when none was observed), else against its leaf's
  typical price (``category_price``: the geometric mean, the category reference for a
  product of average rating). Clipped to ``scores.price_advantage_clip``. The two
  references are kept on the row, so a later price change re-prices it as the live catalog
  re-prices any listing. ``product_price`` is its percentile among its leaf's advantages;
* ``log_price_vs_category`` against the leaf's median log price; ``big_brand`` as the
  brand's other products say (0 for a brand the bundle does not know); ``top_category_id``
  as the leaf's products say;
* the history scores (product score and its dimensions, CTR, CVR, rating) as the bundle
  scored products without recent sales: the median over the leaf's products whose
  ``sales_velocity`` is 0 (the mall's, for a leaf without any). The scores shrink a product
  without events toward its leaf, so the model never saw NaN in these columns, and a NaN
  would send every tree down a branch no training row took; ``sales_velocity`` is 0.

Cold start's window counts (``impressions_n``, ``clicks_n``, ``orders_n``) are 0: nothing yet;
so is ``store_banned`` (its store's ban is the live catalog's overlay, laid over the table right
after the add). Any other column (one a later part adds) is NaN, or 0 for integer columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ranking.card_badges import OFFER_COLUMNS
from ranking.cold_start.posterior import COUNTS
from ranking.contracts.tables import PRODUCTS
from ranking.features.snapshot import FeatureSnapshot
from ranking.scores.price_advantage import combine_advantage, median_of_others

HISTORY_COLUMNS = ("product_score", "product_information", "product_popularity", "product_quality",
                   "product_service", "product_brand", "ctr", "cvr", "rating")
GROUP, LISTED = "comparable_group_id", "listed_at"


def leaf_median(values: np.ndarray, leaf: np.ndarray, new_leaf: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per new row: the median of ``values`` over its leaf's ``mask`` rows (the mask's median, else NaN)."""
    return leaf_medians({"values": values}, leaf, new_leaf, mask)["values"]


def leaf_medians(columns: dict[str, np.ndarray], leaf: np.ndarray, new_leaf: np.ndarray, mask: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """:func:`leaf_median` of several columns over the same ``mask`` rows, grouped once (pandas'
    median skips each column's NaN: the floats of each column grouped alone without its NaN)."""
    if not columns:
        return {}
    frame = pd.DataFrame({name: np.asarray(v, np.float64)[mask] for name, v in columns.items()})
    by_leaf = frame.groupby(leaf[mask]).median()
    at = pd.Index(by_leaf.index).get_indexer(new_leaf)
    out = {}
    for name in columns:
        values = frame[name].to_numpy()
        ok = ~np.isnan(values)
        overall = float(np.median(values[ok])) if ok.any() else np.nan
        found = np.r_[by_leaf[name].to_numpy(np.float64), np.nan]  # a leaf without rows: the NaN at -1
        medians = found[at]
        out[name] = np.where(np.isnan(medians), overall, medians)
    return out


def first_by_key(keys: np.ndarray, values: np.ndarray, new_keys: np.ndarray, missing: float) -> np.ndarray:
    """The first value each key has among existing rows, for every new key (``missing`` when none)."""
    first = pd.Series(values).groupby(keys).first()
    return pd.Series(new_keys).map(first).fillna(missing).to_numpy(np.float64)


def price_advantages(snapshot: FeatureSnapshot, new: pd.DataFrame, new_leaf: np.ndarray, leaf: np.ndarray,
                     clip: float, refs: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(price_advantage, product_price) of the new listings (see the module docstring); ``refs``:
    their :func:`price_references` when the caller has them."""
    cols = snapshot.products.columns
    price = np.asarray(cols["price"], np.float64)
    group = np.asarray(cols[GROUP], np.int64) if GROUP in cols else np.full(len(price), -1, np.int64)
    live = (np.asarray(cols["banned"]) == 0) & (group >= 0)
    new_price = new.price.to_numpy(np.float64)
    all_group = np.r_[group, new.comparable_group_id.to_numpy(np.int64)]
    all_price = np.r_[price, new_price]
    all_live = np.r_[live, ~new.banned.to_numpy(bool)]
    members = np.isin(all_group, new.comparable_group_id.to_numpy(np.int64))  # only the groups asked for
    others = np.full(len(all_price), np.nan)
    others[members] = median_of_others(all_group[members], all_price[members], all_live[members])
    others = others[len(price):]
    refs = price_references(snapshot, new, new_leaf, leaf) if refs is None else refs
    outside = refs.get("outside_price", np.full(len(new), np.nan))
    advantage = combine_advantage(new_price, others, outside, refs["category_price"], clip)["price_advantage"]
    return advantage, _percentiles(np.asarray(cols["price_advantage"], np.float64), leaf, new_leaf, advantage)


def price_references(snapshot: FeatureSnapshot, new: pd.DataFrame, new_leaf: np.ndarray, leaf: np.ndarray
                     ) -> dict[str, np.ndarray]:
    """The references the live catalog re-prices a listing against (its ``outside_price``: the
    outside median its comparable group already has in the bundle, NaN when none was observed;
    its ``category_price``: the leaf's typical price, the reference the advantage above falls
    back to), for bundles whose snapshot keeps them."""
    cols = snapshot.products.columns
    out: dict[str, np.ndarray] = {}
    if "outside_price" in cols and GROUP in cols:
        known = ~np.isnan(np.asarray(cols["outside_price"], np.float64))
        out["outside_price"] = first_by_key(np.asarray(cols[GROUP], np.int64)[known],
                                       np.asarray(cols["outside_price"], np.float64)[known],
                                       new.comparable_group_id.to_numpy(np.int64), np.nan)
    logp = np.log(np.maximum(np.asarray(cols["price"], np.float64), 0.01))
    out["category_price"] = np.exp(_leaf_mean(logp, leaf, new_leaf))
    return out


def _leaf_mean(values: np.ndarray, leaf: np.ndarray, new_leaf: np.ndarray) -> np.ndarray:
    by_leaf = pd.Series(values).groupby(leaf).mean()
    overall = float(values.mean()) if len(values) else 0.0
    return pd.Series(new_leaf).map(by_leaf).fillna(overall).to_numpy(np.float64)


def _percentiles(values: np.ndarray, leaf: np.ndarray, new_leaf: np.ndarray, x: np.ndarray) -> np.ndarray:
    """0-100 per new row: the share of its leaf's ``values`` at or below its ``x`` (50 with none)."""
    out = np.full(len(x), 50.0)
    ok = ~np.isnan(values)
    for lf in np.unique(new_leaf).tolist():
        mine = np.sort(values[ok & (leaf == lf)])
        rows = new_leaf == lf
        if len(mine):
            out[rows] = 100.0 * np.searchsorted(mine, x[rows], side="right") / len(mine)
    return out


def epoch_ms(values: pd.Series) -> np.ndarray:
    """Timestamps as epoch milliseconds (the contracts' numbers as they are; datetimes converted)."""
    if pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(np.float64)
    stamps = pd.to_datetime(values, utc=True)  # of any resolution (ns, us, ms): counted in ms
    return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")).to_numpy(np.float64)


def listing_columns(snapshot: FeatureSnapshot, new: pd.DataFrame, clip: float) -> dict[str, np.ndarray]:
    """The new products' values of every ``snapshot.products`` column (and of
    ``comparable_group_id`` and ``listed_at``, added when the bundle lacks them)."""
    cols = snapshot.products.columns
    category = np.asarray(cols["category_id"], np.int64)
    new_cat = new.category_id.to_numpy(np.int64)
    price = new.price.to_numpy(np.float64)
    out: dict[str, np.ndarray] = {
        "store_id": new.store_id.to_numpy(np.int64), "category_id": new_cat,
        "brand_id": new.brand_id.to_numpy(np.int64),
        "top_category_id": first_by_key(category, np.asarray(cols["top_category_id"], np.float64), new_cat,
                                   np.nan),
        "price": price, "list_price": new.list_price.to_numpy(np.float64),
        "subsidy": new.subsidy.to_numpy(bool).astype(np.float64),
        "big_brand": first_by_key(np.asarray(cols["brand_id"], np.int64),
                             np.asarray(cols["big_brand"], np.float64), new.brand_id.to_numpy(np.int64), 0.0),
        "stock": new.stock.to_numpy(np.float64), "banned": new.banned.to_numpy(bool).astype(np.float64),
        "demoted": np.zeros(len(new)), "sales_velocity": np.zeros(len(new)),
        GROUP: new.comparable_group_id.to_numpy(np.int64), LISTED: epoch_ms(new.listed_at),
    }
    for name in OFFER_COLUMNS:  # trust and offer attributes: the row's (its default when not sent)
        default = float(PRODUCTS.column(name).default)
        out[name] = (new[name].fillna(default).to_numpy(np.float64) if name in new
                     else np.full(len(new), default))
    out["top_category_id"] = np.where(np.isnan(out["top_category_id"]), new_cat, out["top_category_id"])
    logp = np.log(np.maximum(np.asarray(cols["price"], np.float64), 0.01))
    median = leaf_median(logp, category, new_cat, np.ones(len(logp), bool))
    out["log_price_vs_category"] = np.log(np.maximum(price, 0.01)) - np.nan_to_num(median, nan=0.0)
    refs = price_references(snapshot, new, new_cat, category)  # once: the advantage and the row keep them
    out["price_advantage"], out["product_price"] = price_advantages(snapshot, new, new_cat, category, clip,
                                                                    refs)
    out.update({k: v for k, v in refs.items() if k in cols})
    cold = np.asarray(cols["sales_velocity"], np.float64) == 0 if "sales_velocity" in cols else \
        np.ones(len(category), bool)
    for name in COUNTS:  # cold start's window counts: a product just listed has none yet
        if name in cols:
            out[name] = np.zeros(len(new))
    out.update(leaf_medians({name: cols[name] for name in HISTORY_COLUMNS if name in cols}, category, new_cat,
                            cold))
    if "store_banned" in cols:  # its store's ban: the live catalog's overlay, laid right after the add
        out["store_banned"] = np.zeros(len(new))
    for name, values in cols.items():
        if name not in out:
            integer = np.issubdtype(values.dtype, np.integer)
            out[name] = np.zeros(len(new)) if integer else np.full(len(new), np.nan)
    return out
