"""The cold-start report: every new product with its counts, posterior and stage."""

from __future__ import annotations

import pytest
from test_cold_start import NOW, counted_snapshot

from ranking.cold_start.report import cold_start_report
from ranking.settings import ColdStartSettings


def test_the_report_lists_every_new_product_exploring_first_best_first():
    snap = counted_snapshot()
    cols = snap.products.columns
    cols["listed_at"][[20, 21, 22, 23]] = NOW - 2 * 86_400_000
    cols["impressions_n"][[20, 21, 22, 23]] = [100, 300, 900, 1500]
    cols["clicks_n"][[20, 21, 22, 23]] = [5, 9, 0, 40]
    cols["orders_n"][[20, 21, 22, 23]] = [1, 0, 0, 3]
    report = cold_start_report(snap, NOW, ColdStartSettings(graduation_impressions=1000))
    assert report["stages"] == {"exploring": 2, "graduated": 1, "retired": 1}
    rows = report["products"]
    assert [p["product_id"] for p in rows] == [120, 121, 123, 122]  # exploring by posterior, then the rest
    assert [p["stage"] for p in rows] == ["exploring", "exploring", "graduated", "retired"]
    first = rows[0]
    assert (first["impressions"], first["clicks"], first["orders"]) == (100, 5, 1)
    a, b = first["order_rate_posterior"]
    assert first["order_rate_mean"] == pytest.approx(a / (a + b))
    assert a == pytest.approx(200 * first["leaf_order_rate"] + 1)
    assert first["new_product"] and not first["new_store"] and first["listed_at_ms"] == NOW - 2 * 86_400_000
    assert rows[3]["p_below_leaf"] >= 0.95


def test_a_later_moment_ages_products_out_of_the_report():
    snap = counted_snapshot()
    snap.products.columns["listed_at"][[20, 21]] = [NOW - 2 * 86_400_000, NOW - 13 * 86_400_000]
    assert len(cold_start_report(snap, NOW, ColdStartSettings())["products"]) == 2
    later = cold_start_report(snap, NOW + 2 * 86_400_000, ColdStartSettings())
    assert [p["product_id"] for p in later["products"]] == [120]
