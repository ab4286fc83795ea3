"""The merchant traffic report over a served small bundle: the endpoint and the CLI count the
cards the service really returned, need the operator token, and name an unknown store."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ranking.settings import load_settings
from serving.app import create_app
from shelfrank.cli import app as cli

OPERATOR = {"Authorization": "Bearer s3cret"}


@pytest.fixture(scope="module")
def served(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    """A service that has answered 12 homepage pages; (client, events dir, cards per store)."""
    events = tmp_path_factory.mktemp("events")
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={events}",
                              "serving.admin_token=s3cret"])
    with TestClient(create_app(settings)) as client:
        shown: Counter = Counter()
        for user in range(12):
            page = client.post("/v1/homepage", json={"user_id": user, "page_size": 10})
            assert page.status_code == 200, page.text
            shown.update(card["store_id"] for card in page.json()["cards"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the exposure lines are flushed every half second
            lines = sum(p.read_text().count("\n") for p in (events / "exposures").glob("*.jsonl"))
            if lines == 12:
                break
            time.sleep(0.1)
        yield client, events, shown


def test_the_endpoint_counts_the_cards_the_service_returned(served):
    client, _, shown = served
    store, cards = shown.most_common(1)[0]
    r = client.get(f"/v1/merchant/stores/{store}/traffic", headers=OPERATOR)
    assert r.status_code == 200, r.text
    report = r.json()
    for window in ("day", "week"):
        w = report["windows"][window]
        assert w["cards_shown"] == sum(shown.values()) == 120 and w["store_cards"] == cards
        assert w["exposure_share"] == pytest.approx(cards / 120)
        assert w["category_stores"] >= 1 and w["category_cards"] >= cards
    assert sum(report["grade_mix"].values()) > 0
    assert set(report["windows"]["week"]["policy_rules"]) >= {"demotion", "fold_floor_grade_d"}


def test_the_endpoint_needs_the_operator_token_and_names_an_unknown_store(served):
    client, _, shown = served
    store = next(iter(shown))
    assert client.get(f"/v1/merchant/stores/{store}/traffic").status_code == 401
    assert client.get(f"/v1/merchant/stores/{store}/traffic",
                      headers={"Authorization": "Bearer nope"}).status_code == 403
    missing = client.get("/v1/merchant/stores/987654/traffic", headers=OPERATOR)
    assert missing.status_code == 404 and "store 987654 is not in the scores" in missing.text
    assert client.get("/v1/merchant/stores/-1/traffic", headers=OPERATOR).status_code == 422


def test_the_cli_prints_the_same_report_from_the_log_and_the_bundle(served, small_models: Path):
    _, events, shown = served
    store, cards = shown.most_common(1)[0]
    result = CliRunner().invoke(cli, ["scores", "explain", "--store", str(store), "--events", str(events),
                                      "--bundle", str(small_models / "latest")])
    assert result.exit_code == 0, result.output
    assert f"last day: {cards:,} of 120 cards shown = {cards / 120:.2%}" in result.output
    assert "grade mix:" in result.output
    unknown = CliRunner().invoke(cli, ["scores", "explain", "--store", "987654", "--events", str(events),
                                       "--bundle", str(small_models / "latest")])
    assert unknown.exit_code == 1 and "store 987654 is not in the scores" in unknown.output


def test_the_cli_reads_scores_computed_from_the_mall_with_data(served, small_mall: Path):
    _, events, shown = served
    store, cards = shown.most_common(1)[0]
    result = CliRunner().invoke(cli, ["scores", "explain", "--data", str(small_mall), "--store", str(store),
                                      "--events", str(events)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"store {store}: store experience score")  # the score explanation
    assert f"last week: {cards:,} of 120 cards shown = {cards / 120:.2%}" in result.output
    neither = CliRunner().invoke(cli, ["scores", "explain", "--store", str(store)])
    assert neither.exit_code == 2 and "give --data" in neither.output


def test_scores_policy_prints_the_policy_in_force():
    from ranking.pipeline.traffic_policy_text import policy_table
    from ranking.settings import load_settings

    result = CliRunner().invoke(cli, ["--set", "rules.traffic_fold=3", "scores", "policy"])
    assert result.exit_code == 0, result.output
    settings = load_settings(["rules.traffic_fold=3"])
    assert result.output.strip() == policy_table(settings.rules, settings.scores).strip()
    assert "never placed in the first 3 positions" in result.output


def test_a_served_page_explains_the_policy_on_its_cards(served):
    """Products of the small mall's stores scoring 75+ carry the policy's up-move in explain;
    grade D products stay out of the first 6 positions."""
    client = served[0]
    snap = client.app.state.shelfrank.engine.snapshot
    p, ids = snap.products.columns, snap.products.ids
    stores = snap.stores.rows(p["store_id"].astype(np.int64))
    store_score = snap.stores.take("store_experience_score", stores, missing=np.nan)
    ok = (p["banned"] == 0) & (p["stock"] > 0)
    boosted = {int(i) for i in ids[ok & (store_score >= 75)][:30]}
    grade_d = {int(i) for i in ids[ok & (p["product_score"] < 40) & (store_score < 75)][:30]}
    assert len(boosted) >= 10 and len(grade_d) >= 10
    body = {"surface": "homepage", "user_id": 1, "candidates": sorted(boosted | grade_d), "page_size": 20}
    page = client.post("/v1/rerank?explain=true", json=body)
    assert page.status_code == 200, page.text
    cards = page.json()["cards"]
    for card in cards:
        notes = [n["why"] for n in card["explanation"]["rules"] if n["rule"] == "traffic_policy"]
        if card["product_id"] in boosted:
            assert any("moved up by the traffic policy" in why for why in notes), card["explanation"]
    d_positions = [c["position"] for c in cards if c["product_id"] in grade_d]
    assert d_positions and min(d_positions) > 6
