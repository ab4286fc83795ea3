"""Cold start's LeafRateCache answers again only for the very columns it read: a new leaf or count
column, or another strength, computes the rates again."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ranking.cold_start.posterior import LeafRates
from ranking.cold_start.view import LeafRateCache
from ranking.features.snapshot import EntityTable


def _snapshot(columns: dict[str, np.ndarray]) -> SimpleNamespace:
    return SimpleNamespace(products=EntityTable(ids=np.arange(1, 7), columns=columns))


def test_a_new_count_column_or_strength_computes_the_rates_again() -> None:
    columns = {"category_id": np.array([3, 3, 4, 4, 5, 5]), "impressions_n": np.full(6, 100.0),
               "clicks_n": np.full(6, 10.0), "orders_n": np.array([1.0, 1, 2, 2, 0, 0])}
    cache = LeafRateCache()
    first = cache.of(_snapshot(columns), 20.0)
    assert cache.of(_snapshot(dict(columns)), 20.0) is first  # the same columns: kept
    orders = dict(columns, orders_n=np.array([9.0, 9, 2, 2, 0, 0]))  # a count column replaced alone
    again = cache.of(_snapshot(orders), 20.0)
    assert again is not first and again.order_rate[0] > first.order_rate[0]
    want = LeafRates.of_table(_snapshot(orders).products, 20.0)
    assert np.array_equal(again.order_rate, want.order_rate)
    assert np.array_equal(again.click_rate, want.click_rate)
    assert cache.of(_snapshot(orders), 5.0) is not again  # another strength
    leaf = dict(orders, category_id=np.array([3, 3, 3, 4, 5, 5]))
    moved = cache.of(_snapshot(leaf), 5.0)  # a new leaf column
    assert moved.order_rate[0] != cache.of(_snapshot(orders), 5.0).order_rate[0]
