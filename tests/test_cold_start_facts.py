"""Cold start's per-product facts (ranking/cold_start/product_facts.py): gathered from a table kept
per catalog version, the request's view is the one computed from the product and store tables,
and the table is rebuilt when any array it reads is replaced."""

from __future__ import annotations

import numpy as np
import pytest
from test_cold_start import NOW, counted_snapshot

from ranking.cold_start import LeafRates, cold_start_view
from ranking.cold_start.newness import DAY_MS
from ranking.cold_start.product_facts import ProductFactsTable
from ranking.cold_start.view import table_view
from ranking.features.snapshot import located
from ranking.settings import ColdStartSettings


def _snapshot(store_column: str):
    snap = counted_snapshot()
    cols = snap.products.columns
    rng = np.random.default_rng(3)
    cols["listed_at"] = NOW - rng.integers(0, 30, 30) * DAY_MS + rng.random(30)
    cols["listed_at"][[5, 6]] = np.nan
    cols["impressions_n"] = rng.integers(0, 900, 30).astype(np.float32)
    cols["orders_n"][[1, 2]] = np.nan
    if store_column == "new_store":
        del snap.stores.columns["opened_at"]
        snap.stores.columns["new_store"][1] = 1
    elif store_column == "none":
        del snap.stores.columns["opened_at"]
        del snap.stores.columns["new_store"]
    else:
        snap.stores.columns["opened_at"][2] = NOW - 20 * DAY_MS
    return snap


def _live(ids, at_ms):
    n = len(ids)
    return {"day_impressions": np.arange(n, dtype=np.float64), "day_clicks": np.full(n, 2.0),
            "day_orders": np.ones(n)}


def _same(a, b) -> None:
    for name in ("new", "new_product", "new_store", "rows", "stage"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for name in vars(a.posterior):
        np.testing.assert_array_equal(getattr(a.posterior, name), getattr(b.posterior, name))  # bit for bit


@pytest.mark.parametrize("store_column", ["opened_at", "new_store", "none"])
@pytest.mark.parametrize("live", [None, _live])
def test_the_gathered_view_is_the_computed_one(store_column, live):
    snap = _snapshot(store_column)
    settings = ColdStartSettings()
    ids = np.array([105, 999, 100, 129, 107, 106, 101, 102, 5, 110, 111, 112, 120], np.int64)  # 2 unknown
    products = snap.products
    facts = ProductFactsTable().of(products, snap.stores, settings.prior_strength)
    got = table_view(products, ids, located(products.rows(ids)), NOW, live, settings, facts)
    want = cold_start_view(snap, ids, NOW, live, settings, LeafRates.of(snap, settings.prior_strength))
    assert len(want.rows) >= 3
    _same(got, want)


@pytest.mark.parametrize("replace", ["store_id", "category_id", "orders_n", "opened_at", "strength"])
def test_the_table_is_rebuilt_when_what_it_reads_is_replaced(replace):
    snap = _snapshot("opened_at")
    table, settings = ProductFactsTable(), ColdStartSettings()
    first = table.of(snap.products, snap.stores, 200.0)
    assert table.of(snap.products, snap.stores, 200.0) is first  # kept while nothing changed
    strength = 200.0
    if replace == "opened_at":  # the live catalog copies a changed column and swaps it in
        column = snap.stores.columns["opened_at"].copy()
        column[:] = NOW - DAY_MS
        snap.stores.columns["opened_at"] = column
    elif replace == "strength":
        strength = 50.0
    else:
        column = snap.products.columns[replace].copy()
        column[:] = column[::-1]
        snap.products.columns[replace] = column
    again = table.of(snap.products, snap.stores, strength)
    assert again is not first
    ids = snap.products.ids
    settings = settings.model_copy(update={"prior_strength": strength})
    got = table_view(snap.products, ids, located(snap.products.rows(ids)), NOW, _live, settings, again)
    _same(got, cold_start_view(snap, ids, NOW, _live, settings, LeafRates.of(snap, strength)))


def test_a_pickled_table_is_an_empty_one():
    import pickle

    snap = _snapshot("opened_at")
    table = ProductFactsTable()
    first = table.of(snap.products, snap.stores, 200.0)
    copy = pickle.loads(pickle.dumps(table))
    again = copy.of(snap.products, snap.stores, 200.0)
    assert again is not first
    np.testing.assert_array_equal(again.numbers, first.numbers)


def test_a_request_gets_no_table_until_it_is_built_aside_then_the_same_facts():
    import time

    snap, settings = counted_snapshot(), ColdStartSettings()
    table = ProductFactsTable()
    assert table.ready(snap.products, snap.stores, settings.prior_strength) is None  # never built here
    deadline = time.time() + 10
    while (facts := table.ready(snap.products, snap.stores, settings.prior_strength)) is None:
        assert time.time() < deadline, "the facts were not built aside"
        time.sleep(0.005)
    want = ProductFactsTable().of(snap.products, snap.stores, settings.prior_strength)
    assert np.array_equal(facts.numbers, want.numbers, equal_nan=True)
