"""Implausible and fabricated events (issue 24.4): refused with the field and the reason, or,
when every row is plausible, flagged by merge-events before training reads them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import record_reliability
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ranking.event_log import EventLog, read_event_log
from ranking.settings import load_settings
from serving.app import create_app
from shelfrank.cli import app

runner = CliRunner()
NOW = int(time.time() * 1000)
CLICK = {"request_id": 1, "timestamp": NOW, "user_id": 2, "product_id": 3, "position": 1}
ORDER = {"order_id": 1, "request_id": None, "timestamp": NOW, "user_id": 2, "product_id": 3,
         "store_id": 0, "price_paid": 9.5, "quantity": 1, "cancelled": False}
IMPRESSION = {"request_id": 1, "timestamp": NOW, "user_id": 2, "surface": "homepage", "query_id": None,
              "product_id": 3, "position": 1, "variant": "default", "propensity": 1.0}
# the issue's list: each was accepted, each names its field now
IMPLAUSIBLE = [
    ("clicks", {**CLICK, "timestamp": NOW + 23 * 3600 * 1000}, "timestamp", "after the server's clock"),
    ("clicks", {**CLICK, "timestamp": NOW - 400 * 24 * 3600 * 1000}, "timestamp", "before the server's"),
    ("clicks", {**CLICK, "user_id": -2}, "user_id", "greater than or equal to 0"),
    ("clicks", {**CLICK, "request_id": -1}, "request_id", "greater than or equal to 0"),
    ("orders", {**ORDER, "price_paid": 1e300}, "price_paid", "serving.max_price_paid"),
    ("orders", {**ORDER, "quantity": 32767}, "quantity", "serving.max_order_quantity"),
    ("impressions", {**IMPRESSION, "variant": "v" * 10_000}, "variant", "at most 200 characters"),
]


@pytest.fixture(scope="module")
def client(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    events = tmp_path_factory.mktemp("events")
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={events}",
                              "serving.event_past_days=365"])  # the bound under test (conftest may widen it)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def sold_by(small_mall: Path) -> dict[int, int]:
    products = pq.read_table(small_mall / "products.parquet", columns=["product_id", "store_id"])
    return dict(zip(*(products.column(c).to_pylist() for c in ("product_id", "store_id")), strict=True))


def _plausible_store(table: str, row: dict, sold_by: dict[int, int]) -> dict:
    """An order line's store as the catalog has it (only the field under test is wrong)."""
    return {**row, "store_id": sold_by[row["product_id"]]} if table == "orders" else row


def _logged(client) -> int:
    tables = read_event_log(client.app.state.shelfrank.events_dir).tables
    return sum(tables[t].num_rows for t in ("impressions", "clicks", "orders"))


@pytest.mark.parametrize("table,row,field,reason", IMPLAUSIBLE,
                         ids=[f"{t}.{f}" for t, _, f, _ in IMPLAUSIBLE])
def test_an_implausible_event_is_a_422_naming_the_field_and_why(client, sold_by, table, row, field,
                                                                reason):
    before = _logged(client)
    r = client.post("/v1/events", json={table: [_plausible_store(table, row, sold_by)]})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert [d["loc"] for d in detail] == [["body", table, 0, field]]
    assert reason in detail[0]["msg"]
    assert _logged(client) == before


def test_every_poisoning_attempt_of_the_issue_is_refused(client, sold_by) -> None:
    """The reliability figure: each attempt of the issue's list, posted, refused."""
    refused = sum(client.post("/v1/events", json={t: [_plausible_store(t, row, sold_by)]}).status_code == 422
                  for t, row, _, _ in IMPLAUSIBLE)
    record_reliability("poisoning", attempts=len(IMPLAUSIBLE), refused=refused)
    assert refused == len(IMPLAUSIBLE)


def _fake_funnel(small_mall: Path, shoppers: int) -> dict[str, list[dict]]:
    """The issue's attack: one product, ``shoppers`` real user ids, each through the whole funnel
    within a second, every row self-consistent."""
    users = pq.read_table(small_mall / "users.parquet").column("user_id").to_pylist()[:shoppers]
    products = pq.read_table(small_mall / "products.parquet", columns=["product_id", "store_id"])
    product, store = products.column("product_id")[0].as_py(), products.column("store_id")[0].as_py()
    batch: dict[str, list[dict]] = {"impressions": [], "clicks": [], "carts": [], "orders": []}
    for i, user in enumerate(users):
        request, t = 10_000 + i, NOW - 5_000 + i
        batch["impressions"].append({**IMPRESSION, "request_id": request, "timestamp": t, "user_id": user,
                                     "product_id": product})
        batch["clicks"].append({**CLICK, "request_id": request, "timestamp": t + 200, "user_id": user,
                                "product_id": product})
        batch["carts"].append({"request_id": request, "timestamp": t + 400, "user_id": user,
                               "product_id": product})
        batch["orders"].append({**ORDER, "order_id": 50_000 + i, "request_id": request, "timestamp": t + 900,
                                "user_id": user, "product_id": product, "store_id": store})
    return batch


def test_merge_events_flags_the_issues_fake_funnel_and_its_burst(client, small_mall, tmp_path):
    batch = _fake_funnel(small_mall, 1_000)
    events = client.app.state.shelfrank.events_dir
    r = client.post("/v1/events", json=batch)
    assert r.status_code == 200, r.text  # every row is plausible and consistent: accepted ...
    merged = runner.invoke(app, ["merge-events", "--data", str(small_mall), "--events", str(events),
                                 "--out", str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.output
    product = batch["orders"][0]["product_id"]
    # ... and flagged before training reads it
    assert (f"warning: suspicious traffic: product {product}: 1,000 distinct shoppers each went "
            "impression -> click -> cart -> order within 10 s") in merged.output
    assert "client (unidentified clients) sent 4,000 events within one second" in merged.output


def test_merge_events_does_not_flag_a_few_fast_shoppers(small_mall, tmp_path):
    log = EventLog(tmp_path / "events", writer="w")
    log.append(_fake_funnel(small_mall, 5), client="frontend")
    merged = runner.invoke(app, ["merge-events", "--data", str(small_mall), "--events",
                                 str(tmp_path / "events"), "--out", str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.output
    assert "suspicious traffic" not in merged.output


def test_merge_events_stops_on_a_bad_line_naming_it_unless_told_to_skip(small_mall, tmp_path):
    events = tmp_path / "events"
    EventLog(events, writer="w").append({"clicks": [CLICK, {**CLICK, "request_id": 2}]})
    path = events / "clicks" / "w.jsonl"
    with path.open("a") as f:
        f.write(json.dumps(CLICK)[:-20] + "\n")  # the issue's torn line, appended onto
        f.write(json.dumps({**CLICK, "request_id": 3}) + "\n")
    stopped = runner.invoke(app, ["merge-events", "--data", str(small_mall), "--events", str(events),
                                  "--out", str(tmp_path / "merged")])
    assert stopped.exit_code != 0
    assert f"{path}:3: not an event record" in stopped.output and "--skip-bad" in stopped.output
    assert not (tmp_path / "merged" / "clicks.parquet").exists()  # nothing half-merged
    skipped = runner.invoke(app, ["merge-events", "--data", str(small_mall), "--events", str(events),
                                  "--out", str(tmp_path / "merged2"), "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output
    assert f"skipped {path}:3: not an event record" in skipped.output
    assert f"read {path}: 4 line(s), 1 bad" in skipped.output
    assert "clicks: +3 rows" in skipped.output


def test_the_service_runs_the_consistency_modules_own_rules() -> None:
    """One definition of each rule: every rule the service applies is a rule of
    ranking/contracts/consistency.py (a renamed rule cannot silently drop out of the service)."""
    from ranking.contracts.consistency import RULES
    from serving.event_checks import SERVICE_RULES

    assert set(SERVICE_RULES) <= {(r.name, r.table) for r in RULES}


def test_order_lines_of_one_order_from_two_stores_are_refused_by_the_consistency_rule() -> None:
    from serving.event_checks import batch_problems

    lines = [{**ORDER, "product_id": 3, "store_id": 4}, {**ORDER, "product_id": 5, "store_id": 6}]
    problems = batch_problems({"orders": lines}, now_ms=NOW)
    assert [(p.table, p.row, p.field) for p in problems] == [("orders", 1, "store_id")]
    assert "6 disagrees with orders row 0 of the same order_id (4)" in problems[0].msg
    assert "one shipment from one store" in problems[0].msg  # the rule's own why
