"""The channel routes over a real small bundle: the subsidy channel and category pages, their
checks and 404, the exposure log, A/B variants, and the pacing counted on both live backends."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ranking.event_log import read_event_log
from ranking.settings import load_settings
from serving.app import create_app

OPERATOR = {"Authorization": "Bearer s3cret"}


def _client(models: Path, events: Path, *extra: str) -> TestClient:
    settings = load_settings([f"serving.bundle={models / 'latest'}", f"serving.events_dir={events}",
                              "serving.admin_token=s3cret", "serving.exposure_flush_seconds=0.05",
                              "live.poll_ms=20", *extra])
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def client(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    with _client(small_models, tmp_path_factory.mktemp("events")) as c:
        yield c


@pytest.fixture(scope="module")
def catalog(small_mall: Path) -> pd.DataFrame:
    products = pd.read_parquet(small_mall / "products.parquet")
    categories = pd.read_parquet(small_mall / "categories.parquet").set_index("category_id")
    products["top"] = products.category_id.map(categories.parent_id).fillna(products.category_id)
    return products.set_index("product_id")


def test_the_subsidy_channel_serves_subsidy_cards_and_says_pacing_runs(client, catalog):
    r = client.post("/v1/channel/subsidy?explain=true", json={"user_id": 3, "page_size": 12,
                                                              "context": {"hour": 12}})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["channel"] == "subsidy" and page["category_id"] is None
    assert page["pacing"]["on"] is True, page["pacing"]
    assert len(page["cards"]) == 12 and all(c["subsidy"] for c in page["cards"])
    assert all(catalog.loc[c["product_id"]].subsidy for c in page["cards"])
    rules = {n["rule"] for c in page["cards"] for n in c["explanation"]["rules"]}
    assert {"channel_theme", "subsidy_session"} <= rules


def test_a_category_page_holds_its_category_and_an_unknown_one_is_a_404(client, catalog):
    top = int(catalog.top.value_counts().index[0])
    r = client.post(f"/v1/channel/category/{top}", json={"session_id": "s-browse", "page_size": 15})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["channel"] == "category" and page["category_id"] == top and page["pacing"] is None
    assert len(page["cards"]) == 15
    assert all(catalog.loc[c["product_id"]].top == top for c in page["cards"])
    leaf = int(catalog.category_id.value_counts().index[0])
    cards = client.post(f"/v1/channel/category/{leaf}", json={}).json()["cards"]
    assert cards and all(catalog.loc[c["product_id"]].category_id == leaf for c in cards)
    missing = client.post("/v1/channel/category/999999", json={})
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]


def test_channel_bodies_are_checked_like_the_homepages(client):
    assert client.post("/v1/channel/subsidy", json={"page_size": 10_000}).status_code == 422
    assert client.post("/v1/channel/subsidy", json={"query": "大米"}).status_code == 422
    assert client.post("/v1/channel/category/-3", json={}).status_code == 422
    bad_slots = client.post("/v1/channel/subsidy", json={"page_size": 5, "subsidy_slots": [9]})
    assert bad_slots.status_code == 422 and "subsidy_slots" in str(bad_slots.json()["detail"])


def test_channel_pages_are_logged_on_the_channel_surface(client):
    page = client.post("/v1/channel/subsidy", json={"user_id": 5}).json()
    events = client.app.state.shelfrank.events_dir
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        exposures = read_event_log(events).tables["exposures"].to_pandas()
        mine = exposures[exposures.request_id == page["request_id"]]
        if len(mine):
            break
        time.sleep(0.05)
    assert len(mine) == len(page["cards"]) and (mine.surface == "channel").all()


def test_a_forced_variant_serves_the_channel_page(client):
    r = client.post("/v1/channel/subsidy", json={"user_id": 8}, headers={"X-Shelfrank-Variant": "nope=x"})
    assert r.status_code == 422 and "X-Shelfrank-Variant" in str(r.json()["detail"])
    ok = client.post("/v1/channel/subsidy", json={"user_id": 8})
    assert ok.json()["variant"] is not None and ok.json()["experiment"] is not None


@pytest.mark.parametrize("backend", ["embedded", "redis"])
def test_pacing_counts_the_channels_impressions_today(small_models, tmp_path, request, backend):
    extra = ["live.backend=embedded"]
    if backend == "redis":
        extra = ["live.backend=redis", f"live.redis_url={request.getfixturevalue('redis_url')}",
                 f"live.redis_prefix=chan-{uuid.uuid4().hex[:8]}:"]
    with _client(small_models, tmp_path / "events", *extra) as c:
        assert c.get("/v1/channel/subsidy/pacing").status_code == 401
        served = [c.post("/v1/channel/subsidy", json={"user_id": u, "page_size": 10}).json()
                  for u in range(6)]
        c.post("/v1/channel/category/1", json={"user_id": 1})  # another channel: not counted
        shown = sum(len(p["cards"]) for p in served)
        deadline, report = time.monotonic() + 10, {}
        while time.monotonic() < deadline:
            report = c.get("/v1/channel/subsidy/pacing", headers=OPERATOR).json()
            if sum(b["delivered"] for b in report["brands"]) >= shown:
                break
            time.sleep(0.1)
        assert report["live"] is True
        assert sum(b["delivered"] for b in report["brands"]) == shown
        promise = c.app.state.shelfrank.settings.channels.pacing_daily_promise
        for b in report["brands"]:
            assert b["promise"] == promise
            assert b["due"] == pytest.approx(promise * report["due_share"], abs=0.1)
        delivered = np.array([b["delivered"] for b in report["brands"]])
        assert (delivered > 0).sum() >= 2, "the pacing spreads the channel over several brands"


def test_without_live_state_the_page_says_pacing_is_off(small_models, tmp_path):
    with _client(small_models, tmp_path / "events", "live.backend=off") as c:
        page = c.post("/v1/channel/subsidy", json={"user_id": 3}).json()
        assert page["pacing"]["on"] is False and "live state" in page["pacing"]["why"]
        assert page["cards"], "served unpaced"
        assert c.get("/v1/channel/subsidy/pacing", headers=OPERATOR).json()["live"] is False


def test_the_operators_rules_for_a_category_on_the_channel_apply_to_its_page(client, catalog):
    top = int(catalog.top.value_counts().index[1])
    page = client.post(f"/v1/channel/category/{top}", json={"user_id": 4}).json()
    pinned = page["cards"][-1]["product_id"]
    rule = {"match": {"category_id": top, "surface": "channel"}, "action": {"pin": [pinned]},
            "reason": "the category page's lead product this week"}
    created = client.post("/v1/rules", json=rule, headers=OPERATOR)
    assert created.status_code in (200, 201), created.text
    deadline, first = time.monotonic() + 10, None
    while time.monotonic() < deadline:
        again = client.post(f"/v1/channel/category/{top}", json={"user_id": 4}).json()
        first = again["cards"][0]["product_id"]
        if first == pinned:
            break
        time.sleep(0.1)
    assert first == pinned and created.json()["id"] in again["rules_applied"]
    homepage = client.post("/v1/homepage", json={"user_id": 4}).json()
    assert created.json()["id"] not in homepage["rules_applied"], "the rule is for the channel surface"


def test_the_pacing_report_reads_as_a_table(client):
    from serving.channel_report import pacing_lines

    report = client.get("/v1/channel/subsidy/pacing", headers=OPERATOR).json()
    lines = pacing_lines(report)
    assert lines[1].split() == ["brand", "promise", "delivered", "due", "error"]
    assert len(lines) == len(report["brands"]) + 3 and lines[-1].startswith("mean |pacing error|")
    assert {int(line.split()[0]) for line in lines[2:-1]} == {b["brand_id"] for b in report["brands"]}
