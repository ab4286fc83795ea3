"""Products arriving during the simulated week: a mall without some new stores' products, and
their listing through the live catalog path when the week reaches their time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ranking.cold_start import new_products
from ranking.engine import Engine
from ranking.live import LiveState
from ranking.settings import ColdStartSettings, load_settings
from training.experiments.cold_start_arrivals import ARRIVALS, BY_ORDER, BY_PRODUCT, Arrivals, hold_out_mall


def test_the_held_out_mall_has_none_of_their_products_or_events_and_still_validates(small_mall, tmp_path):
    from typer.testing import CliRunner

    from shelfrank.cli import app

    out = tmp_path / "cut"
    rows = hold_out_mall(small_mall, out, 1.0, 7)
    assert len(rows) > 50 and (out / ARRIVALS).is_file()
    gone = set(rows.product_id.tolist())
    kept = pd.read_parquet(out / "products.parquet")
    assert not gone & set(kept.product_id) and len(kept) + len(rows) == 2000
    for name in BY_PRODUCT:
        assert not gone & set(pd.read_parquet(out / f"{name}.parquet").product_id), name
    orders = pd.read_parquet(small_mall / "orders.parquet")
    dropped = set(orders.order_id[orders.product_id.isin(gone)])
    assert dropped, "the held-out products had orders"
    for name in BY_ORDER:
        assert not dropped & set(pd.read_parquet(out / f"{name}.parquet").order_id), name
    for name in ("categories", "impressions", "users"):  # schemas kept, byte types and all
        assert pq.read_schema(out / f"{name}.parquet").equals(pq.read_schema(small_mall / f"{name}.parquet"))
    result = CliRunner().invoke(app, ["validate", str(out)])
    assert result.exit_code == 0, result.output


def test_arrivals_are_listed_when_the_week_reaches_them(small_models):
    engine = Engine.load(small_models / "latest", load_settings([]))
    try:
        snap = engine.snapshot
        t0 = snap.as_of_ms + 3_600_000
        base = _rows_like(engine, 3)
        arrivals = Arrivals(base, t0, 2, seed=3)
        state = LiveState(engine.settings.live)
        assert arrivals.list_due(engine, state, t0 - 1) == 0
        first = int(arrivals.at_ms[0])
        assert arrivals.list_due(engine, state, first) == 1
        pid = int(arrivals.rows.product_id[0])
        assert engine.knows_product(pid) and not engine.knows_product(int(arrivals.rows.product_id[2]))
        new_product, _ = new_products(engine.snapshot, np.array([pid]), first, ColdStartSettings())
        assert new_product[0], "listed at its arrival time: new"
        assert state.catalog.products.find(np.array([pid]))[0] >= 0, "the live state counts it"
        assert arrivals.list_due(engine, state, t0 + 3 * 86_400_000) == 2
    finally:
        engine.close()


def test_a_listing_time_of_any_resolution_reads_as_epoch_ms():
    from ranking.live.new_product_listing import epoch_ms

    ms = 1_788_170_280_931
    for unit in ("ns", "us", "ms"):
        stamps = pd.Series(pd.to_datetime([ms], unit="ms", utc=True)).dt.as_unit(unit)
        assert epoch_ms(stamps).tolist() == [ms], unit
    assert epoch_ms(pd.Series([ms])).tolist() == [ms]


def _rows_like(engine, n: int) -> pd.DataFrame:
    """``n`` new products (ids past the catalog's) copied from the bundle's first products."""
    snap = engine.snapshot
    ids = snap.products.ids[:n]
    cols = snap.products.columns
    rows = snap.products.rows(ids)
    return pd.DataFrame({
        "product_id": ids + 10_000_000, "store_id": cols["store_id"][rows].astype(np.int64),
        "brand_id": cols["brand_id"][rows].astype(np.int64),
        "category_id": cols["category_id"][rows].astype(np.int64),
        "comparable_group_id": cols["comparable_group_id"][rows].astype(np.int64),
        "title": [f"arrival {i}" for i in range(n)], "price": cols["price"][rows].astype(float),
        "list_price": cols["list_price"][rows].astype(float), "stock": 10, "subsidy": False, "banned": False,
        "listed_at": pd.Timestamp(0, unit="ms", tz="UTC")})
