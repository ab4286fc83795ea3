"""The live catalog overlay: the catalog changes laid over a bundle's product columns, copy and swap.

:func:`overlay_products` takes the served snapshot's product table (an
:class:`~ranking.features.snapshot.EntityTable`) and returns a new one in which the touched
products carry their latest changed values (:class:`~ranking.live.catalog_state.CatalogState`):
``price``, ``list_price``, ``stock``, ``subsidy``, ``banned`` and ``comparable_group_id``; the
``store_banned`` column (1 for every product of a banned store, 0 for the others: always carried,
:func:`carrying_store_bans`); ``log_price_vs_category``
moved by the change of log price; and ``price_advantage`` recomputed for every listing of the
comparable groups a price, a group or a ban touched, with the function scoring uses
(:func:`ranking.scores.price_advantage.group_price_advantage`: the other stores' live listings'
median, combined with the outside and category references the snapshot keeps). A bundle
trained before the snapshot kept those references (``outside_price``, ``category_price``,
``comparable_group_id``) re-prices only the changed listing against the reference its old
advantage implies.

Only the columns that change are copied; the untouched ones are shared, and so is a copy whose
values came out bit for bit the same (a change to the value a product already had, no new store
ban); when no column changed at all the table itself is returned, so what is built per table
object (the per-product feature table, ~1.5 s of CPU at 1M products; cold start's facts;
governance's barred codes) stays valid: the first overlay at start, with no change, costs no
rebuild. The caller swaps the result in with one assignment (``snapshot.products = ...``), so
a reader sees the whole batch or none of it, and the read path takes no lock.

A bundle's table has no ``store_banned`` (training knows no store ban): the engine serves it with
one of zeros from its load (:func:`carrying_store_bans`, ``Engine``), so the first overlay at start
keeps that table, and a store's first ban changes values of a column the table already has, as any
other ban does: what reads it is built again from the column it replaces, once, before the swap
(``ranking/live/catalog_tables.py``), never for a column the table gained.
:func:`overlay_store_names` does the same for the card catalog's store names (stores added
through the catalog API).
"""

from __future__ import annotations

import numpy as np

from ranking.catalog import CardCatalog
from ranking.catalog_changes import OVERLAID
from ranking.features.snapshot import EntityTable
from ranking.live.catalog_state import CatalogState, Folded
from ranking.scores.price_advantage import group_price_advantage

GROUP_COLUMNS = ("comparable_group_id", "outside_price", "category_price", "price_advantage")
STORE_BANNED = "store_banned"


def carrying_store_bans(table: EntityTable) -> EntityTable:
    """``table`` with a ``store_banned`` column of zeros (float32, as the overlay writes it) when it
    has none (a bundle's table), else ``table`` itself; the other columns are shared."""
    if STORE_BANNED in table.columns:
        return table
    return EntityTable(table.ids, {**table.columns, STORE_BANNED: np.zeros(len(table.ids), np.float32)})


def overlay_products(table: EntityTable, state: CatalogState, folded: Folded | None, clip: float
                     ) -> EntityTable:
    """``table`` with the changes of ``folded`` (None: every change so far) laid over it."""
    cols = dict(table.columns)
    wanted = state.products.keys() if folded is None else folded.products
    ids = np.fromiter(sorted(wanted), np.int64, len(wanted))
    rows = table.rows(ids)
    ids, rows = ids[rows >= 0], rows[rows >= 0]
    before = {n: cols[n][rows].copy() for n in ("price", "comparable_group_id", "price_advantage")
              if n in cols}
    repriced = np.zeros(len(rows), bool)
    for name in OVERLAID:
        if name not in cols:
            continue
        has = np.array([name in state.products[p] for p in ids.tolist()], bool)
        if not has.any():
            continue
        values = np.array([state.products[p][name] for p in ids[has].tolist()], np.float64)
        column = cols[name].copy()
        column[rows[has]] = values.astype(column.dtype)
        cols[name] = column
        if name in ("price", "banned", "comparable_group_id"):
            repriced |= has
    if "price" in before and "log_price_vs_category" in cols and len(rows):
        moved = np.log(np.maximum(cols["price"][rows], 0.01)) - np.log(np.maximum(before["price"], 0.01))
        column = cols["log_price_vs_category"].copy()
        column[rows] += moved.astype(column.dtype)
        cols["log_price_vs_category"] = column
    if "store_id" in cols:
        store = cols["store_id"].astype(np.int64)
        cols[STORE_BANNED] = np.isin(store, state.banned_store_ids()).astype(np.float32)
    _reprice(cols, rows[repriced], {k: v[repriced] for k, v in before.items()}, state, folded, clip)
    return _kept(table, cols)


def _kept(table: EntityTable, cols: dict[str, np.ndarray]) -> EntityTable:
    """The table of ``cols``, sharing each of ``table``'s columns its copy equals bit for bit (a
    change to the value a product already had, a ``store_banned`` with no new ban), and ``table``
    itself when no column changed."""
    kept = {}
    for name, column in cols.items():
        old = table.columns.get(name)
        kept[name] = old if old is not None and _same_bits(old, column) else column
    if kept.keys() == table.columns.keys() and all(kept[n] is c for n, c in table.columns.items()):
        return table
    return EntityTable(table.ids, kept)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two columns hold the very same values, bit for bit (NaNs and signed zeros too)."""
    if a is b:
        return True
    if a.dtype != b.dtype or a.shape != b.shape or a.dtype.hasobject:
        return False
    bits = np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)
    return bool(np.array_equal(*bits))


def _reprice(cols: dict[str, np.ndarray], rows: np.ndarray, before: dict[str, np.ndarray],
             state: CatalogState, folded: Folded | None, clip: float) -> None:
    """Recompute price advantage where prices, groups or bans moved (module docstring)."""
    if "price_advantage" not in cols:
        return
    if not all(c in cols for c in GROUP_COLUMNS):
        _reprice_alone(cols, rows, before, clip)
        return
    group = cols["comparable_group_id"].astype(np.int64)
    stores = state.banned_stores.keys() if folded is None else folded.store_bans
    touched = np.concatenate([group[rows], before.get("comparable_group_id", np.zeros(0)).astype(np.int64)])
    if stores and "store_id" in cols:
        touched = np.concatenate([touched, group[np.isin(cols["store_id"], np.fromiter(stores, np.int64))]])
    if not len(touched):
        return
    members = np.flatnonzero(np.isin(group, np.unique(touched)))
    live = cols["banned"][members] == 0
    if "store_banned" in cols:
        live &= cols["store_banned"][members] == 0
    adv = group_price_advantage(group[members], cols["price"][members].astype(np.float64), live,
                                cols["outside_price"][members].astype(np.float64),
                                cols["category_price"][members].astype(np.float64), clip)
    column = cols["price_advantage"].copy()
    column[members] = adv.astype(column.dtype)
    cols["price_advantage"] = column


def _reprice_alone(cols: dict[str, np.ndarray], rows: np.ndarray, before: dict[str, np.ndarray],
                   clip: float) -> None:
    """An older bundle: the changed listing against the reference its old advantage implies."""
    if not len(rows) or "price" not in before:
        return
    old_adv = before["price_advantage"].astype(np.float64)
    reference = before["price"] / np.where(1.0 - old_adv == 0, np.nan, 1.0 - old_adv)
    price = cols["price"][rows].astype(np.float64)
    new = np.clip((reference - price) / reference, -clip, clip)
    column = cols["price_advantage"].copy()
    column[rows] = np.where(np.isnan(new), column[rows], new).astype(column.dtype)
    cols["price_advantage"] = column


def overlay_store_names(catalog: CardCatalog, state: CatalogState) -> CardCatalog:
    """The card catalog with the added stores' names (a new object; the old one is untouched)."""
    if not state.stores:
        return catalog
    names = dict(zip(catalog.store_ids.tolist(), catalog.store_names.tolist(), strict=True))
    names.update({sid: row["name"] for sid, row in state.stores.items()})
    ids = np.array(sorted(names), np.int64)
    return CardCatalog(catalog.product_ids, catalog.titles, ids,
                       np.array([names[i] for i in ids.tolist()], dtype=object))
