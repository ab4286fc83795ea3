"""``shelfrank catalog apply`` (training/data/catalog_apply.py): a CSV and a Parquet file reach a
running service's pages through the API, a file goes straight into an event log that a service
then replays, and a bad row is refused naming its line and field, with nothing applied."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from service_process import start_service, stop_service
from typer.testing import CliRunner

from ranking.features.snapshot import FeatureSnapshot
from shelfrank.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def _shown(models: Path) -> tuple[list[int], list[float]]:
    snap = FeatureSnapshot.load(models / "latest" / "snapshot")
    cols = snap.products.columns
    ok = np.flatnonzero((cols["banned"] == 0) & (cols["stock"] > 0))[:12]
    return snap.products.ids[ok].tolist(), cols["price"][ok].tolist()


def _cards(url: str, ids: list[int]) -> dict[int, dict]:
    r = httpx2.post(f"{url}/v1/rerank", json={"surface": "channel", "candidates": ids, "page_size": len(ids)})
    assert r.status_code == 200, r.text
    return {c["product_id"]: c for c in r.json()["cards"]}


def _wait(url: str, ids: list[int], check) -> dict[int, dict]:
    deadline = time.time() + 15
    while True:
        cards = _cards(url, ids)
        if check(cards):
            return cards
        assert time.time() < deadline, cards
        time.sleep(0.05)


def test_a_csv_and_a_parquet_file_reach_the_pages_and_a_bad_row_is_named(small_models, tmp_path):
    ids, prices = _shown(small_models)
    good = tmp_path / "prices.csv"
    good.write_text("product_id,price,stock,subsidy\n"
                    f"{ids[0]},{prices[0] / 2:.2f},,\n{ids[1]},,0,\n{ids[2]},,,true\n")
    table = pa.table({"product_id": pa.array(ids[3:5], pa.int64()),
                      "stock": pa.array([0, None], pa.int32()), "price": pa.array([None, 1.5])})
    pq.write_table(table, tmp_path / "stock.parquet")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"product_id,price,stock\n{ids[5]},9.9,\n{ids[6]},cheap,\n{ids[7]},,-1\n")
    proc, url = start_service(small_models, tmp_path / "events", workers=2)
    try:
        for path in (good, tmp_path / "stock.parquet"):
            done = runner.invoke(app, ["catalog", "apply", str(path), "--url", url, "--token", "s3cret",
                                       "--no-progress"])
            assert done.exit_code == 0, done.output
        cards = _wait(url, ids, lambda c: ids[1] not in c and ids[3] not in c)
        assert cards[ids[0]]["price"] == round(prices[0] / 2, 2) and cards[ids[2]]["subsidy"] is True
        assert cards[ids[4]]["price"] == 1.5
        refused = runner.invoke(app, ["catalog", "apply", str(bad), "--url", url, "--token", "s3cret",
                                      "--no-progress"])
        assert refused.exit_code == 2
        assert "bad.csv line 3: price" in refused.output
        assert "bad.csv line 4: stock: below 0" in refused.output
        time.sleep(0.3)
        assert _cards(url, ids)[ids[5]]["price"] == pytest.approx(prices[5]), "nothing of the bad file"
        unknown = runner.invoke(app, ["catalog", "apply", str(good), "--url", url, "--token", "wrong",
                                      "--no-progress"])
        assert unknown.exit_code == 2 and "403" in unknown.output
    finally:
        stop_service(proc)


def test_a_file_goes_into_an_event_log_that_the_service_replays(small_models, tmp_path):
    ids, _ = _shown(small_models)
    events = tmp_path / "events"
    bans = tmp_path / "bans.csv"
    bans.write_text(f"product_id,reason,unban\n{ids[0]},counterfeit,false\n{ids[1]},counterfeit,\n")
    new = tmp_path / "new.csv"
    new.write_text("product_id,store_id,brand_id,category_id\n99999999,1,1,1\n")
    sets = ["--set", f"serving.bundle={small_models / 'latest'}"]
    done = runner.invoke(app, [*sets, "catalog", "apply", str(bans), "--kind", "bans",
                               "--events-dir", str(events), "--no-progress"])
    assert done.exit_code == 0, done.output
    refused = runner.invoke(app, [*sets, "catalog", "apply", str(new), "--events-dir", str(events),
                                  "--no-progress"])
    assert refused.exit_code == 2 and "new.csv line 2: title: required for a new product" in refused.output
    proc, url = start_service(small_models, events, workers=1)
    try:
        cards = _cards(url, ids)
        assert ids[0] not in cards and ids[1] not in cards and ids[2] in cards
    finally:
        stop_service(proc)
