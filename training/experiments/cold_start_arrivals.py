"""Products that arrive during the simulated week: a copy of a simulated mall without some new
stores' products (and every event of theirs), so a bundle trained on it has never seen them,
and their listings through the live catalog path at times spread over the week
(``shelfrank cold-start hold-out``, ``shelfrank train`` on the copy, then ``shelfrank cold-start
week --data <the original mall> --bundle <that bundle> --arrivals <the copy>/arrivals.parquet``).

The simulated world's new stores opened in its last 14 days; ``hold_out_mall`` picks
``share`` of them (by a seeded draw) and writes the mall without their products: their rows
of ``products``, and of every event table by product (impressions, clicks, carts, orders,
returns, reviews) or by the dropped orders (shipments, service tickets). The stores stay (a
store may open before it lists anything). The truth is not copied (it describes the whole
catalog): the week's simulated shoppers read the original mall's, so they value the held-out
products as the world made them once they are listed. ``arrivals.parquet``
beside the tables holds the held-out ``products`` rows.

``Arrivals`` lists them during a week: each product at ``start + u * days`` (u uniform, drawn
from the seed), through :func:`ranking.live.new_products.add_products` (the catalog API's path:
searchable, rankable, on the homepage; ``listed_at`` is the listing time, in epoch ms as the
API's change time) and into the live state's catalog (its ``products`` rows, as the service's
change log feeds it).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from ranking.engine import Engine
    from ranking.live import LiveState

BY_PRODUCT = ("impressions", "clicks", "carts", "orders", "returns", "reviews", "creator_content",
              "creator_orders")  # the creators' tables: only when the mall has them
BY_ORDER = ("shipments", "service_tickets")
ARRIVALS = "arrivals.parquet"
NEW_STORE_DAYS = 14  # the simulator's new stores opened in its last 14 days


def _without(path: Path, out: Path, column: str, values: set[int]) -> np.ndarray:
    """Copy a Parquet table without the rows whose ``column`` is in ``values`` (schema kept);
    return the dropped rows' mask."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    drop = pc.is_in(table[column], value_set=pa_array(values)).to_numpy(zero_copy_only=False)
    pq.write_table(table.filter(pa_array(~drop)), out / path.name)
    return drop


def pa_array(values: set[int] | np.ndarray) -> pa.Array:
    """A pyarrow array of ids (a set sorted) or of a mask."""

    return pa.array(sorted(values) if isinstance(values, set) else values)


def hold_out_mall(data: Path, out: Path, share: float, seed: int) -> pd.DataFrame:
    """Write ``data`` to ``out`` without ``share`` of the new stores' products; return their rows."""
    import pyarrow.parquet as pq

    data, out = Path(data), Path(out)
    stores = pd.read_parquet(data / "stores.parquet")
    products = pd.read_parquet(data / "products.parquet")
    end = pd.read_parquet(data / "impressions.parquet", columns=["timestamp"]).timestamp.max()
    opened = pd.to_datetime(stores.opened_at, utc=True)
    new = stores.store_id[opened > pd.to_datetime(end, utc=True) - pd.Timedelta(days=NEW_STORE_DAYS)]
    held_stores = new[np.random.default_rng(seed).random(len(new)) < share].to_numpy()
    held = products.store_id.isin(held_stores).to_numpy()
    gone = set(products.product_id[held].tolist())
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(data.glob("*.parquet")):
        if path.stem == "products":
            _without(path, out, "product_id", gone)
        elif path.stem in BY_PRODUCT:
            drop = _without(path, out, "product_id", gone)
            if path.stem == "orders":
                orders = pq.read_table(path, columns=["order_id"])["order_id"].to_numpy()
                dropped_orders = set(orders[drop].tolist())
        elif path.stem not in BY_ORDER:
            shutil.copy2(path, out / path.name)
    for name in BY_ORDER:
        _without(data / f"{name}.parquet", out, "order_id", dropped_orders)
    arrivals = products[held].reset_index(drop=True)
    arrivals.to_parquet(out / ARRIVALS, index=False)
    return arrivals


class Arrivals:
    """The held-out products' listings over a week, listed when a session reaches their time."""

    def __init__(self, rows: pd.DataFrame, start_ms: int, days: int, seed: int) -> None:
        u = np.random.default_rng([seed, 29]).random(len(rows))
        self.at_ms = (start_ms + u * days * 86_400_000).astype(np.int64)
        order = np.argsort(self.at_ms, kind="stable")
        self.rows, self.at_ms = rows.iloc[order].reset_index(drop=True), self.at_ms[order]
        self.listed = 0

    def list_due(self, engine: Engine, state: LiveState, now_ms: int) -> int:
        """List every product due by ``now_ms`` not listed yet; how many were listed."""
        from ranking.live.new_products import add_products

        due = int(np.searchsorted(self.at_ms, now_ms, side="right"))
        if due <= self.listed:
            return 0
        batch = self.rows.iloc[self.listed:due].copy()
        batch["listed_at"] = self.at_ms[self.listed:due]  # epoch ms, as the catalog API's change time
        rows = batch.to_dict("records")
        added = add_products(engine, rows)
        state.apply("products", rows)  # the live state's catalog, as the service's change log feeds it
        self.listed = due
        return added
