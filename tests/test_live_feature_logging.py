"""The service serves live features and, for ``live.log_feature_share`` of its pages, logs
the values it served with the exposure line (issue 25: parity on real traffic)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from ranking.live.features import LIVE_COLUMNS
from ranking.settings import load_settings
from serving.app import create_app
from serving.live import logs_features

WRITER = {"Authorization": "Bearer web-token"}
OPERATOR = {"Authorization": "Bearer s3cret"}


def test_the_logged_share_of_requests_follows_the_setting() -> None:
    ids = np.arange(1, 20_001) * 7919
    assert not any(logs_features(int(i), 0.0) for i in ids[:1000])
    assert all(logs_features(int(i), 1.0) for i in ids[:1000])
    share = np.mean([logs_features(int(i), 0.25) for i in ids])
    assert 0.23 < share < 0.27
    assert logs_features(12345, 0.25) == logs_features(12345, 0.25)  # a request goes one way


def _exposure_lines(events: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((events / "exposures").glob("*.jsonl"))
            for line in f.read_text().splitlines() if line]


def test_served_live_features_are_logged_with_the_exposure(small_models: Path, small_mall: Path,
                                                           tmp_path: Path) -> None:
    import pandas as pd

    events = tmp_path / "events"
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={events}",
                              "serving.admin_token=s3cret", 'serving.client_tokens={"web": "web-token"}',
                              "live.log_feature_share=1.0"])
    products = pd.read_parquet(small_mall / "products.parquet")
    ok = products[(~products.banned) & (products.stock > 0)].product_id.to_numpy()[:12].tolist()
    user = 10**6  # a shopper neither the bundle nor the live state knows
    now = int(time.time() * 1000)
    with TestClient(create_app(settings)) as c:
        before = c.post("/v1/rerank", json={"user_id": user, "surface": "homepage", "candidates": ok}).json()
        clicks = [{"request_id": 1, "timestamp": now - 60_000 + i, "user_id": user, "product_id": p,
                   "position": 1} for i, p in enumerate(ok[:3])]
        assert c.post("/v1/events", json={"clicks": clicks}, headers=WRITER).status_code == 200
        deadline = time.time() + 10
        while c.get("/admin/live/shopper", params={"user_id": user}, headers=OPERATOR).status_code != 200:
            assert time.time() < deadline, "the live state never saw the clicks"
            time.sleep(0.05)
        after = c.post("/v1/rerank", json={"user_id": user, "surface": "homepage", "candidates": ok}).json()
    lines = {line["request_id"]: line for line in _exposure_lines(events)}
    unknown, known = lines[before["request_id"]], lines[after["request_id"]]
    assert list(known["live_features"]) == list(LIVE_COLUMNS)
    served = known["live_features"]
    assert all(len(v) == len(after["cards"]) for v in served.values())
    clicked = {p: i for i, p in enumerate(known["cards"]["product_id"]) if p in ok[:3]}
    assert clicked and all(served["recent_item_interest"][i] > 0.9 for i in clicked.values())
    assert all(v is not None for v in served["live_ctr"])
    # before the clicks the shopper was unknown: the shopper's columns were served missing
    assert all(v is None for v in unknown["live_features"]["recent_item_interest"])
