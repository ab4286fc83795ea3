"""``shelfrank scores explain`` (issue 27): names beside ids, dimensions out of 100, and every
rate shown as the smoothed figure the score uses beside the raw counts it comes from, each
labelled, so "0 late shipments" and an on-time rate of 0.967 no longer contradict."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ranking.scores import compute_scores
from ranking.scores.explain import RETURNING_DETAIL, STORE_DETAIL, Rate, explain_store, load_names, rate_line
from ranking.settings import ScoreSettings
from shelfrank.cli import app as cli


@pytest.fixture(scope="module")
def scores(small_mall: Path):
    return compute_scores(small_mall, None, ScoreSettings())


def test_a_rate_line_labels_the_smoothed_figure_and_the_raw_counts():
    row = pd.Series({"on_time_ship_rate": 0.967, "late_shipments_n": 0.0, "shipments_n": 3.0})
    rate = Rate("on-time shipping rate", "on_time_ship_rate", "late_shipments_n", "late", "shipments_n",
                "shipments", complement=True)
    line = rate_line(row, rate)
    assert "smoothed    0.967" in line and line.endswith("raw: 0 late of 3 shipments = 1.000")
    no_trials = pd.Series({"mean_log_response": 7.0, "tickets_n": 0.0})
    assert rate_line(no_trials, STORE_DETAIL["service"][0]).endswith("raw: 0 tickets")


def test_the_raw_counts_are_consistent_with_their_denominators(scores):
    s = scores.stores
    assert (s.late_shipments_n <= s.shipments_n).all() and (s.late_deliveries_n <= s.deliveries_n).all()
    assert (s.resolved_n <= s.tickets_n).all()
    assert s.shipments_n.sum() > 0 and s.resolved_n.sum() > 0


def test_every_store_rate_is_labelled_smoothed_and_raw_with_the_store_and_category_names(scores, small_mall):
    names = load_names(small_mall)
    store = int(scores.stores.orders_n.idxmax())
    text = explain_store(scores, store, names, prior_strength=20)
    assert names.stores[store] in text
    assert names.categories[int(scores.stores.loc[store, "category_id"])] in text
    assert "shrunk toward the category's rate by 20 pseudo-events" in text
    rate_lines = [line for line in text.splitlines() if line.startswith("      ")]
    # the store score's rates, then the returning-customer dimensions' (indented one level more)
    assert len(rate_lines) == sum(len(v) for v in (*STORE_DETAIL.values(), *RETURNING_DETAIL.values()))
    assert all(" smoothed " in line and "raw: " in line for line in rate_lines)
    r = scores.stores.loc[store]
    assert f"raw: {int(r.late_shipments_n)} late of {int(r.shipments_n)} shipments" in text
    assert text.count("/ 100") >= 5  # the score and each dimension on its scale


def test_the_cli_prints_the_product_title_and_store_name_beside_the_ids(small_mall):
    products = pq.read_table(small_mall / "products.parquet", columns=["product_id", "title", "store_id"])
    stores = pq.read_table(small_mall / "stores.parquet", columns=["store_id", "name"]).to_pandas()
    pid, title, sid = (products.column(c)[0].as_py() for c in ("product_id", "title", "store_id"))
    result = CliRunner().invoke(cli, ["scores", "explain", "--data", str(small_mall), "--product", str(pid)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"product {pid}: product score")
    assert f"title {title}" in result.output
    assert f"store {sid} ({stores.set_index('store_id').name[sid]})" in result.output
    assert "CTR smoothed" in result.output and "clicks of" in result.output
