"""Folding the catalog change log into the next training dataset (``merge-events``).

:func:`fold_catalog` reads the catalog change tables of an event log (:mod:`ranking.catalog_changes`,
in the order the service received them) and writes into the merged dataset folder:

* ``products``: the dataset's products with every change laid over them as of the end of the
  log (prices, stock, subsidy, titles and the other columns an upsert sent; ``banned`` true for a
  product banned itself or sold by a banned store), and the new products appended;
* ``stores``: the added or renamed stores;
* ``product_changes`` (:data:`ranking.catalog_changes.PRODUCT_CHANGES_HISTORY`): one row per change
  of one product with its time (a store ban: a row for each product of that store), so a training
  run can take the state of any product as of a request's timestamp (the last change at or
  before it, else its original row): prices, stock and bans as they were;
* ``product_originals`` (:data:`ranking.catalog_changes.PRODUCT_ORIGINALS`): each changed product's
  values before its first change (the dataset's row before the merge laid the changes over it).

Merging a dataset that already holds both (a dataset merged before) appends the new history to
its history and keeps its originals, so the timeline runs from the first merge on
(:mod:`training.learning.catalog_timeline` reads both).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ranking.catalog_changes import (
    BANS,
    CHANGED_KEY,
    PRODUCT_CHANGES,
    PRODUCT_CHANGES_HISTORY,
    PRODUCT_ORIGINALS,
)
from ranking.contracts import read_table, write_table
from ranking.contracts.io import table_path
from ranking.event_tables import CLIENT_KEY, RECEIVED_KEY
from ranking.live.catalog_feed import LogCatalogFeed
from ranking.live.catalog_state import CatalogState

VALUES = ("price", "list_price", "stock", "subsidy")


def _history(pairs: list[tuple[str, dict]], store_products: dict[int, list[int]]) -> pa.Table:
    rows = []
    for table, row in pairs:
        when = {"changed_at": row.get(CHANGED_KEY, row.get(RECEIVED_KEY)),
                "received_at": row.get(RECEIVED_KEY), "client": row.get(CLIENT_KEY)}
        if table == PRODUCT_CHANGES:
            rows.append({**when, "product_id": row["product_id"], "kind": "upsert",
                         **{k: row.get(k) for k in (*VALUES, "banned")}})
        elif table == BANS:
            own = "unban" if row["unban"] else "ban"
            for pid in row.get("product_ids", []):
                rows.append({**when, "product_id": pid, "kind": own, "banned": not row["unban"],
                             "reason": row.get("reason")})
            for sid in row.get("store_ids", []):
                for pid in store_products.get(int(sid), []):
                    rows.append({**when, "product_id": pid, "kind": f"store_{own}",
                                 "banned": not row["unban"], "reason": row.get("reason")})
    schema = PRODUCT_CHANGES_HISTORY.schema
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema}, schema=schema)


def _products(base: pd.DataFrame, state: CatalogState) -> pd.DataFrame:
    frame = base.set_index("product_id", drop=False)
    for pid, values in state.products.items():
        change = {k: v for k, v in values.items() if k in frame.columns}
        if pid in frame.index:
            for k, v in change.items():
                frame.at[pid, k] = v
        elif state.complete(pid):
            change["listed_at"] = pd.Timestamp(change["listed_at"], unit="ms", tz="UTC")
            frame.loc[pid] = pd.Series(change)
    frame["banned"] = frame["banned"].astype(bool) | frame["store_id"].isin(list(state.banned_stores))
    return frame.reset_index(drop=True)


def _originals(base: pd.DataFrame, history: pa.Table) -> pa.Table:
    """The dataset's values (before this merge) of every product the history changes."""
    changed = set(history.column("product_id").to_pylist())
    rows = base[base.product_id.isin(changed)]
    return pa.Table.from_pandas(rows[["product_id", *VALUES, "banned"]], preserve_index=False)


def _with_earlier(out_dir: Path, history: pa.Table, originals: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A dataset merged before keeps its history (this merge's rows after it) and its
    originals (a product it already knew keeps the values before its first change ever)."""
    if not table_path(out_dir, PRODUCT_CHANGES_HISTORY.name).exists():
        return history, originals
    earlier = read_table(out_dir, PRODUCT_CHANGES_HISTORY)
    history = pa.concat_tables([earlier, history.cast(earlier.schema)])
    if table_path(out_dir, PRODUCT_ORIGINALS.name).exists():
        kept = read_table(out_dir, PRODUCT_ORIGINALS)
        known = pa.array(kept.column("product_id").to_pylist(), pa.int64())
        new = originals.filter(pc.invert(pc.is_in(originals.column("product_id"), known)))
        originals = pa.concat_tables([kept, new.cast(kept.schema)])
    return history, originals


def fold_catalog(events_dir: Path, out_dir: Path) -> dict[str, int]:
    """Lay the log's catalog changes over ``out_dir``'s products and stores and write the history;
    return counts (changes read, products changed and added, stores added, history rows)."""
    feed = LogCatalogFeed(events_dir)
    pairs = feed.poll()
    feed.close()
    if not pairs:
        return {}
    state = CatalogState()
    state.fold(pairs)
    products = read_table(out_dir, "products").to_pandas()
    known = set(products.product_id.tolist())
    merged = _products(products, state)
    write_table(out_dir, "products", pa.Table.from_pandas(merged, preserve_index=False))
    if state.stores:
        stores = read_table(out_dir, "stores").to_pandas().set_index("store_id", drop=False)
        for sid, row in state.stores.items():
            opened = pd.Timestamp(row["opened_at"], unit="ms", tz="UTC")
            values = {k: v for k, v in row.items() if k in stores.columns}
            stores.loc[sid] = pd.Series({**values, "opened_at": opened})
        table = pa.Table.from_pandas(stores.reset_index(drop=True), preserve_index=False)
        write_table(out_dir, "stores", table)
    store_products = merged.groupby("store_id").product_id.apply(list).to_dict()
    history = _history(pairs, store_products)
    history, originals = _with_earlier(out_dir, history, _originals(products, history))
    write_table(out_dir, PRODUCT_CHANGES_HISTORY, history)
    write_table(out_dir, PRODUCT_ORIGINALS, originals)
    return {"changes": len(pairs), "products_changed": len(known & set(state.products)),
            "products_added": len(set(merged.product_id) - known), "stores": len(state.stores),
            "history_rows": history.num_rows}
