"""The ranking service over a real small bundle: endpoints, explanations, rules, bad input."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ranking.settings import load_settings
from serving.app import create_app

WRITER = {"Authorization": "Bearer web-token"}  # the "web" client's write credential
OPERATOR = {"Authorization": "Bearer s3cret"}


def _settings(models: Path, events: Path, **extra: str):
    overrides = [f"serving.bundle={models / 'latest'}", f"serving.events_dir={events}",
                 "serving.admin_token=s3cret", 'serving.client_tokens={"web": "web-token"}',
                 *[f"{k}={v}" for k, v in extra.items()]]
    return load_settings(overrides)


@pytest.fixture(scope="module")
def client(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    events = tmp_path_factory.mktemp("events")
    with TestClient(create_app(_settings(small_models, events))) as c:
        yield c


@pytest.fixture(scope="module")
def some_products(small_mall: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    products = pq.read_table(small_mall / "products.parquet").to_pandas()
    ok = products[(~products.banned) & (products.stock > 0)]
    return ok.product_id.to_numpy()[:200]


def test_ready_with_the_bundle_and_its_manifest(client):
    ready = client.get("/readyz").json()
    assert ready["ready"] is True
    manifest = client.get("/v1/bundle").json()
    assert manifest["version"] == ready["bundle_version"]
    assert client.get("/healthz").json() == {"status": "ok"}


def test_rerank_returns_cards_in_score_order_with_card_fields(client, some_products):
    body = {"surface": "homepage", "user_id": 3, "candidates": some_products[:50].tolist(),
            "page_size": 20}
    r = client.post("/v1/rerank", json=body)
    assert r.status_code == 200, r.text
    page = r.json()
    assert len(page["cards"]) == 20 and page["request_id"] > 0
    card = page["cards"][0]
    for key in ("product_id", "title", "price", "price_advantage", "store_id",
                "store_experience_score", "subsidy", "score", "position"):
        assert key in card
    assert [c["position"] for c in page["cards"]] == list(range(1, 21))
    assert {c["product_id"] for c in page["cards"]} <= set(body["candidates"])
    assert all(c["sources"] == ["caller"] for c in page["cards"])


def test_unknown_banned_and_out_of_stock_products_are_dropped_and_listed(client, small_mall,
                                                                         some_products):
    import pyarrow.parquet as pq

    products = pq.read_table(small_mall / "products.parquet").to_pandas()
    banned = products[products.banned].product_id.tolist()[:2]
    body = {"surface": "search", "query": "油", "candidates": [*some_products[:5].tolist(),
                                                                  *banned, 987654321]}
    page = client.post("/v1/rerank", json=body).json()
    reasons = {d["product_id"]: d["reason"] for d in page["dropped"]}
    assert reasons[987654321] == "unknown_product"
    for b in banned:
        assert reasons[b] == "banned"
    assert len(page["cards"]) + len(page["dropped"]) == len(body["candidates"])


def test_explain_gives_group_contributions_that_sum_to_the_model_score(client, some_products):
    body = {"surface": "homepage", "user_id": 5, "candidates": some_products[:30].tolist(),
            "page_size": 10}
    page = client.post("/v1/rerank?explain=true", json=body).json()
    for card in page["cards"]:
        e = card["explanation"]
        assert set(e["groups"]) <= {"product", "store", "price", "relevance", "personal", "context", "live"}
        assert sum(e["groups"].values()) + e["bias"] == pytest.approx(card["model_score"], abs=1e-6)
        assert "store_logistics" in {d["dimension"] for d in e["store_dimensions"]}
        assert isinstance(e["rules"], list)


def test_theme_boost_is_visible_in_explain_at_a_themed_hour(client, some_products):
    body = {"surface": "homepage", "user_id": 5, "candidates": some_products[:200].tolist(),
            "page_size": 40, "context": {"hour": 9}}
    page = client.post("/v1/rerank?explain=true", json=body).json()
    rules = [n["rule"] for c in page["cards"] for n in c["explanation"]["rules"]]
    assert "theme_boost" in rules


@pytest.mark.parametrize("body,field", [
    ({"surface": "homepage", "candidates": []}, "candidates"),
    ({"surface": "homepage", "candidates": [1], "page_size": 10_000}, "page_size"),
    ({"surface": "moon", "candidates": [1]}, "surface"),
    ({"surface": "search", "candidates": [1]}, "query"),
    ({"surface": "homepage", "candidates": ["x"]}, "candidates"),
    ({"surface": "homepage", "candidates": [1], "user_id": -4}, "user_id"),
    ({"surface": "homepage", "candidates": [1], "bogus": 1}, "bogus"),
])
def test_bad_rerank_input_is_a_422_naming_the_field(client, body, field):
    r = client.post("/v1/rerank", json=body)
    assert r.status_code == 422, r.text
    assert field in json.dumps(r.json()["detail"])


def test_malformed_json_and_nan_are_4xx(client):
    r = client.post("/v1/rerank", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500
    r = client.post("/v1/search", content=b'{"query": "oil", "filters": {"price_min": NaN}}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_oversized_body_is_refused_before_parsing(small_models, tmp_path):
    app = create_app(_settings(small_models, tmp_path, **{"serving.max_body_bytes": "2048"}))
    with TestClient(app) as c:
        r = c.post("/v1/rerank", content=b"x" * 5000, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_events_are_durable_and_readable_by_training(client, tmp_path):
    from ranking.event_log import read_event_log

    state = client.app.state.shelfrank
    batch = {
        "impressions": [{"request_id": 1, "timestamp": "2026-09-01T10:00:00Z", "user_id": 2,
                         "surface": "homepage", "query_id": None, "product_id": 3, "position": 1,
                         "variant": "default", "propensity": 1.0}],
        "clicks": [{"request_id": 1, "timestamp": 1788256800000, "user_id": 2, "product_id": 3,
                    "position": 1}],
    }
    r = client.post("/v1/events", json=batch, headers=WRITER)
    assert r.status_code == 200 and r.json()["accepted"] == {"impressions": 1, "clicks": 1,
                                                             "carts": 0, "orders": 0}
    logged = read_event_log(state.events_dir)
    assert logged.tables["clicks"].num_rows >= 1 and logged.partial_lines == 0
    bad = {"clicks": [{**batch["clicks"][0], "position": 0}]}
    assert client.post("/v1/events", json=bad, headers=WRITER).status_code == 422
    assert client.post("/v1/events", json={}, headers=WRITER).status_code == 422


def test_admin_reload_needs_the_token_and_refuses_a_bad_bundle(client, small_models, tmp_path):
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Bearer nope"}).status_code == 403
    auth = {"Authorization": "Bearer s3cret"}
    before = client.get("/readyz").json()["bundle_version"]
    r = client.post("/admin/reload", json={"bundle": "/etc"}, headers=auth)
    assert r.status_code == 409 and "inside" in r.json()["detail"]
    r = client.post("/admin/reload", json={}, headers=auth)
    assert r.status_code == 200 and r.json()["bundle_version"] == before
    assert client.get("/readyz").json()["bundle_version"] == before


def test_a_bundle_that_cannot_rank_is_refused_at_reload_and_the_old_one_serves(client, some_products,
                                                                              monkeypatch):
    from ranking.engine import Engine

    auth = {"Authorization": "Bearer s3cret"}
    before = client.get("/readyz").json()["bundle_version"]

    def broken(self, pipeline, request, rules=None):
        raise ValueError("scorer exploded")

    with monkeypatch.context() as patched:
        patched.setattr(Engine, "rank", broken)
        r = client.post("/admin/reload", json={}, headers=auth)
    assert r.status_code == 409
    assert "warm-up" in r.json()["detail"] and "scorer exploded" in r.json()["detail"]
    assert client.get("/readyz").json()["bundle_version"] == before
    r = client.post("/v1/rerank", json={"surface": "homepage", "candidates": some_products[:10].tolist()})
    assert r.status_code == 200 and r.json()["bundle_version"] == before


def test_without_a_bundle_the_service_says_so(tmp_path):
    (tmp_path / "models").mkdir()
    with TestClient(create_app(_settings(tmp_path / "models", tmp_path / "ev"))) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "no bundle" in r.json()["reason"]
        r = c.post("/v1/rerank", json={"surface": "homepage", "candidates": [1]})
        assert r.status_code == 503


def test_metrics_expose_latency_per_endpoint_and_stage(client, some_products):
    client.post("/v1/rerank", json={"surface": "homepage", "candidates": some_products[:5].tolist()})
    text = client.get("/metrics", headers=OPERATOR).text
    assert 'shelfrank_request_seconds_bucket{endpoint="/v1/rerank"' in text
    assert 'shelfrank_stage_seconds_bucket{le="0.0005",pipeline="rerank",stage="score"}' in text \
        or 'pipeline="rerank",stage="score"' in text
    assert "shelfrank_bundle_info" in text


def test_compiled_trees_score_exactly_like_lightgbm(small_models):
    from ranking.bundle import load_bundle

    bundle = load_bundle(small_models / "latest")
    assert bundle.model.scorer == "lleaves" and bundle.manifest["scorer"] == "lleaves"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, len(bundle.model.feature_names))).astype(np.float32) * 30
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values route the same way
    np.testing.assert_allclose(bundle.model.score(x), bundle.model.score_with_lightgbm(x),
                               rtol=0, atol=1e-9)


def test_logged_events_merge_into_a_dataset_the_next_training_reads(client, small_mall, tmp_path):
    from ranking.contracts import read_table, validate_dataset
    from training.data.event_import import merge_events

    click = {"request_id": 77, "timestamp": "2026-09-02T10:00:00Z", "user_id": 2, "product_id": 5,
             "position": 2}
    assert client.post("/v1/events", json={"clicks": [click]}, headers=WRITER).status_code == 200
    events = client.app.state.shelfrank.events_dir
    before = read_table(small_mall, "clicks").num_rows
    summary = merge_events(small_mall, events, tmp_path / "merged")
    assert summary.appended["clicks"] >= 1
    assert read_table(tmp_path / "merged", "clicks").num_rows == before + summary.appended["clicks"]
    assert validate_dataset(tmp_path / "merged") == []
    again = merge_events(tmp_path / "merged", events, tmp_path / "merged2")
    assert again.appended["clicks"] == 0 and again.duplicates["clicks"] >= 1


def test_a_full_disk_gives_503_on_events_while_ranking_keeps_serving(client, some_products,
                                                                     monkeypatch):
    import errno

    import ranking.event_log as event_log

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(event_log.os, "write", full)
    click = {"request_id": 1, "timestamp": 1788256800000, "user_id": 2, "product_id": 3, "position": 1}
    r = client.post("/v1/events", json={"clicks": [click]}, headers=WRITER)
    assert r.status_code == 503 and "No space left" in r.json()["detail"]
    assert r.headers["retry-after"] == "30"
    r = client.post("/v1/rerank", json={"surface": "homepage", "candidates": some_products[:10].tolist()})
    assert r.status_code == 200


def test_exposure_buffer_keeps_lines_through_a_failed_flush_and_bounds_memory(tmp_path, monkeypatch):
    from ranking.event_log import BufferedAppender, EventLog, EventLogUnavailableError, read_event_log

    event_log = EventLog(tmp_path / "ev")
    appender = BufferedAppender(event_log, "exposures", every=3600, max_bytes=1000)
    line = (json.dumps({"request_id": 1, "timestamp": 0, "user_id": 3, "surface": "homepage",
                        "query_id": None, "experiment": "none", "variant": "default",
                        "bundle_version": "v1", "latency_ms": 1.0,
                        "cards": {"product_id": [5], "position": [1], "team": [None], "propensity": [1.0]}})
            + "\n").encode()

    def disk_full(table, data):
        raise EventLogUnavailableError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(event_log, "append_lines", disk_full)
        appender.add_line(line)
        with pytest.raises(EventLogUnavailableError):
            appender.flush()
        assert appender.dropped_lines == 0  # kept for the next attempt
        for _ in range(200):  # far past 4 x max_bytes while the disk stays full
            with contextlib.suppress(EventLogUnavailableError):
                appender.add_line(line)
        assert appender.dropped_lines > 0 and appender._size <= 4 * appender.max_bytes + len(line)
    kept = appender.flush()
    appender.close()
    rows = read_event_log(tmp_path / "ev").tables["exposures"]
    assert kept > 0 and len(rows) == kept and rows.column("product_id").to_pylist() == [5] * kept


def test_merge_events_gives_the_searched_queries_their_text(small_mall, small_models, tmp_path):
    """A search impression names its query by id; the exposure log keeps the text (typed and
    corrected) so merge-events can add it to ``queries``, and training featurises the page
    as the search it was, not as an empty query."""
    import time

    import pandas as pd

    from ranking.settings import load_settings
    from ranking.text import query_id
    from serving.app import create_app
    from training.data.event_import import merge_events

    events = tmp_path / "events"
    novel = "cooking oil for grandma"
    known = set(pd.read_parquet(small_mall / "queries.parquet").query_id)
    assert query_id(novel) not in known and query_id("Cookign oil") not in known
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={events}"])
    now = int(time.time() * 1000)
    with TestClient(create_app(settings)) as c:
        pages = [c.post("/v1/search", json={"query": q, "page_size": 3, "user_id": 3}).json()
                 for q in ("Cookign oil", novel)]
        assert pages[0]["corrected_query"] == "cooking oil"
        impressions = [{"request_id": p["request_id"], "timestamp": now, "user_id": 3, "surface": "search",
                        "query_id": p["query_id"], "product_id": card["product_id"],
                        "position": card["position"], "variant": "default", "propensity": 1.0}
                       for p in pages for card in p["cards"]]
        unlogged = {**impressions[0], "request_id": 10**9, "query_id": query_id("never searched here")}
        r = c.post("/v1/events", json={"impressions": [*impressions, unlogged]}, headers=WRITER)
        assert r.status_code == 200, r.text
    summary = merge_events(small_mall, events, tmp_path / "merged")
    texts = dict(pd.read_parquet(tmp_path / "merged" / "queries.parquet")[["query_id", "text"]].values)
    assert texts[query_id(novel)] == novel
    assert texts[query_id("Cookign oil")].lower() == "cookign oil"
    assert query_id("cooking oil") in texts
    assert summary.appended["queries"] == len(set(texts) - known) >= 2
    assert summary.queries_without_text == 1  # the page whose exposure never reached the log
    again = merge_events(tmp_path / "merged", events, tmp_path / "merged2")
    assert again.appended["queries"] == 0


def test_a_page_that_names_no_size_gets_the_default_page_size_setting(small_models, tmp_path):
    """``serving.default_page_size`` sizes search and homepage pages that name no page_size
    (it used to be a setting nothing read: the schema's own 20 applied whatever it said)."""
    settings = _settings(small_models, tmp_path, **{"serving.default_page_size": "7"})
    with TestClient(create_app(settings)) as c:
        search = c.post("/v1/search", json={"query": "大米"}).json()
        home = c.post("/v1/homepage", json={"user_id": 2}).json()
        asked = c.post("/v1/search", json={"query": "大米", "page_size": 3}).json()
        slot = c.post("/v1/homepage", json={"user_id": 2, "subsidy_slots": [8]})
    assert len(search["cards"]) == 7 and len(home["cards"]) == 7 and len(asked["cards"]) == 3
    assert slot.status_code == 422 and "7 cards" in slot.text  # slots are checked against that size


def test_readiness_shows_the_bundle_path_only_to_the_operator(client):
    public = client.get("/readyz").json()
    assert public["ready"] is True and "bundle_path" not in public and public["writes"] == "authenticated"
    assert "/" not in json.dumps(public)
    private = client.get("/readyz", headers=OPERATOR).json()
    assert private["bundle_path"] == str(client.app.state.shelfrank.engine.bundle.path)


@pytest.mark.parametrize("page_size", [True, "20"])
def test_a_page_size_must_be_a_json_integer(client, page_size):
    r = client.post("/v1/homepage", json={"page_size": page_size})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "page_size"]
