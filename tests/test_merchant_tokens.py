"""A merchant's own token (``serving.merchant_tokens``): it changes its own store's products and
store row and reads its own traffic report; another store's rows, bans, events and admin are
refused with 403, nothing is written, and the log records the merchant as the writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ranking.features.snapshot import FeatureSnapshot
from ranking.settings import load_settings
from serving.app import create_app

OPERATOR = {"Authorization": "Bearer op-s3cret"}
CLIENT = {"Authorization": "Bearer web-s3cret"}


@pytest.fixture(scope="module")
def mall(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    """(client, events dir, store A, A's products, another store's products, A's token header)."""
    snap = FeatureSnapshot.load(small_models / "latest" / "snapshot")
    stores = snap.products.columns["store_id"].astype(np.int64)
    store = int(stores[0])
    own = snap.products.ids[stores == store][:2].tolist()
    others = snap.products.ids[stores != store][:2].tolist()
    other = int(stores[stores != store][0])
    events = tmp_path_factory.mktemp("events")
    settings = load_settings([
        f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={events}",
        "serving.admin_token=op-s3cret", 'serving.client_tokens={"web": "web-s3cret"}',
        f'serving.merchant_tokens={{"{store}": "m-{store}", "{other}": "m-other"}}'])
    with TestClient(create_app(settings)) as client:
        yield client, events, store, own, others, {"Authorization": f"Bearer m-{store}"}


def _writers(events: Path, table: str) -> list[str]:
    """The ``_client`` of every line of ``table`` in the event log."""
    return [json.loads(line)["_client"] for path in sorted((events / table).glob("*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]


def _store_row(store: int) -> dict:
    return {"store_id": store, "name": f"店铺{store} 旗舰店", "opened_at": "2025-05-15T12:00:00Z",
            "region": "上海"}


def test_a_merchant_changes_its_own_products_and_store_and_the_log_names_it(mall):
    client, events, store, own, _, merchant = mall
    r = client.put("/v1/catalog/products", json=[{"product_id": own[0], "price": 12.5}], headers=merchant)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "new": 0, "updated": 1}
    r = client.put("/v1/catalog/stores", json=[_store_row(store)], headers=merchant)
    assert r.status_code == 200, r.text
    assert f"merchant:{store}" in _writers(events, "catalog_products")
    assert _writers(events, "catalog_stores") == [f"merchant:{store}"]


def test_another_stores_product_is_refused_and_nothing_is_written(mall):
    client, events, store, own, others, merchant = mall
    n = len(_writers(events, "catalog_products"))
    r = client.put("/v1/catalog/products", headers=merchant,
                   json=[{"product_id": own[1], "price": 9.9}, {"product_id": others[0], "price": 1.0}])
    assert r.status_code == 403, r.text
    assert str(others[0]) in r.json()["detail"] and "nothing was written" in r.json()["detail"]
    assert len(_writers(events, "catalog_products")) == n
    r = client.put("/v1/catalog/stores", json=[_store_row(store + 1)], headers=merchant)
    assert r.status_code == 403 and str(store + 1) in r.json()["detail"], r.text
    # the operator may change any store's product
    r = client.put("/v1/catalog/products", json=[{"product_id": others[0], "price": 1.0}], headers=OPERATOR)
    assert r.status_code == 200, r.text


def test_a_merchant_may_not_ban_post_events_or_reload(mall):
    client, _, _, own, _, merchant = mall
    r = client.post("/v1/catalog/bans", json={"product_ids": own[:1], "reason": "test"}, headers=merchant)
    assert r.status_code == 403, r.text
    r = client.post("/v1/events", json={"clicks": []}, headers=merchant)
    assert r.status_code == 403 and "merchant" in r.text, r.text
    r = client.post("/admin/reload", json={}, headers=merchant)
    assert r.status_code == 403, r.text


def test_a_client_token_may_not_change_the_catalog(mall):
    client, _, _, own, _, _ = mall
    r = client.put("/v1/catalog/products", json=[{"product_id": own[0], "price": 3.0}], headers=CLIENT)
    assert r.status_code == 403, r.text
    r = client.put("/v1/catalog/products", json=[{"product_id": own[0], "price": 3.0}])
    assert r.status_code == 401, r.text


def test_a_merchant_reads_its_own_traffic_report_only(mall):
    client, _, store, _, _, merchant = mall
    own_report = client.get(f"/v1/merchant/stores/{store}/traffic", headers=merchant)
    assert own_report.status_code in (200, 404), own_report.text  # 404: a store the bundle's scores lack
    assert own_report.status_code == client.get(f"/v1/merchant/stores/{store}/traffic",
                                                headers=OPERATOR).status_code
    r = client.get(f"/v1/merchant/stores/{store + 1}/traffic", headers=merchant)
    assert r.status_code == 403 and "its own report" in r.json()["detail"], r.text


def test_merchant_tokens_must_be_distinct_and_not_empty():
    with pytest.raises(ValueError, match="differ"):
        load_settings(['serving.merchant_tokens={"1": "same", "2": "same"}'])
    with pytest.raises(ValueError, match="empty token"):
        load_settings(['serving.merchant_tokens={"1": ""}'])
    with pytest.raises(ValueError, match="differ"):
        load_settings(["serving.admin_token=same", 'serving.merchant_tokens={"1": "same"}'])
