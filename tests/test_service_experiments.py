"""Experiments in the service: stable variants, QA override, exposures, interleaving, reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ranking.event_log import read_event_log
from ranking.settings import load_settings
from serving.app import create_app

AB = {"experiments": [{"name": "theme-test", "layer": "rules", "salt": "x1", "variants": [
    {"name": "control", "share": 0.5},
    {"name": "strong-theme", "share": 0.5, "rules": {"theme_boost": 3.0}}]}]}
INTERLEAVE = {"experiments": [{"name": "il", "salt": "x2", "mode": "interleave", "variants": [
    {"name": "plain", "share": 0.5, "rules": {"value_weight": 0.0}},
    {"name": "value-tilt", "share": 0.5, "rules": {"value_weight": 2.0}}]}]}


def _client(models: Path, tmp: Path, config: dict) -> TestClient:
    path = tmp / "experiments.json"
    path.write_text(json.dumps(config))
    settings = load_settings([f"serving.bundle={models / 'latest'}", f"serving.events_dir={tmp / 'ev'}",
                              f"serving.experiments_file={path}", "serving.admin_token=t"])
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def candidates(small_mall):
    import pyarrow.parquet as pq

    p = pq.read_table(small_mall / "products.parquet").to_pandas()
    return p[(~p.banned) & (p.stock > 0)].product_id.tolist()[:150]


def test_each_user_keeps_a_variant_and_exposures_are_logged_once_per_card(small_models, tmp_path,
                                                                           candidates):
    with _client(small_models, tmp_path, AB) as c:
        seen = {}
        for user in range(40):
            body = {"surface": "homepage", "user_id": user, "candidates": candidates, "page_size": 10,
                    "context": {"hour": 9}}
            first = c.post("/v1/rerank", json=body).json()
            again = c.post("/v1/rerank", json=body).json()
            assert first["experiment"] == "theme-test"
            assert first["variant"] == again["variant"]
            seen[user] = first["variant"]
        assert set(seen.values()) == {"control", "strong-theme"}
        forced = c.post("/v1/rerank", json={"surface": "homepage", "user_id": 0, "candidates": candidates,
                                              "page_size": 10},
                        headers={"X-Shelfrank-Variant": "theme-test=strong-theme"}).json()
        assert forced["variant"] == "strong-theme"
        bad = c.post("/v1/rerank", json={"surface": "homepage", "user_id": 0, "candidates": candidates},
                     headers={"X-Shelfrank-Variant": "theme-test=nope"})
        assert bad.status_code == 422
    exposures = read_event_log(tmp_path / "ev").tables["exposures"].to_pandas()
    assert len(exposures) == 81 * 10
    per_request = exposures.groupby("request_id").size()
    assert (per_request == 10).all()
    assert set(exposures.variant) == {"control", "strong-theme"}


def test_interleaving_mixes_both_variants_and_names_the_contributor(small_models, tmp_path, candidates):
    with _client(small_models, tmp_path, INTERLEAVE) as c:
        teams, shared = [], []
        for user in range(10):
            page = c.post("/v1/rerank", json={"surface": "homepage", "user_id": user,
                                              "candidates": candidates, "page_size": 12,
                                              "context": {"hour": 20}}).json()
            assert page["experiment"] == "il"
            ids = [card["product_id"] for card in page["cards"]]
            assert len(ids) == len(set(ids)) == 12
            teams += [card["team"] for card in page["cards"]]
            shared += [card["shared"] for card in page["cards"]]
        counts = {t: teams.count(t) for t in set(teams)}
        assert set(counts) == {"plain", "value-tilt"}
        assert abs(counts["plain"] - counts["value-tilt"]) <= 10
        # the tilt moves some cards in and out of the page: those are not shared
        assert set(shared) == {True, False}
    exposures = read_event_log(tmp_path / "ev").tables["exposures"].to_pandas()
    assert set(exposures.team.dropna()) == {"plain", "value-tilt"}
    assert exposures.shared.tolist() == shared


def test_a_bad_experiments_file_on_reload_is_refused_and_the_old_setup_serves(small_models, tmp_path,
                                                                             candidates):
    with _client(small_models, tmp_path, AB) as c:
        (tmp_path / "experiments.json").write_text('{"experiments": [{"name": "x"}]}')
        r = c.post("/admin/reload", headers={"Authorization": "Bearer t"})
        assert r.status_code == 409 and "experiments" in r.json()["detail"]
        page = c.post("/v1/rerank", json={"surface": "homepage", "user_id": 1, "candidates": candidates})
        assert page.json()["experiment"] == "theme-test"
