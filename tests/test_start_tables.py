"""A worker is ready only once it holds the per-product tables of the product table it serves.

The live catalog's first overlay (``serving.catalog.start_catalog``) swaps the product table the
warm-up built its tables for; the tables of the overlaid one are built before the worker takes
traffic, so its first pages neither compute them nor run beside their build (at 1M products
~1.6 s of CPU, which set the search p99 of ``bench.speed``'s first run).
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from ranking.features import feature_names
from ranking.features.per_product import (
    BUILD_LOCK_KEY,
    CACHE_KEY,
    built_product_feature_table,
    per_product_names,
    product_feature_table,
)
from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.settings import load_settings
from serving.app import create_app


def test_a_ready_worker_holds_the_tables_of_the_overlaid_product_table(small_models: Path,
                                                                       tmp_path: Path) -> None:
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}"])
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        engine = client.app.state.shelfrank.engine
        for pipeline in engine.pipelines.values():
            snap = pipeline.snapshot
            table = snap.derived.get(CACHE_KEY)
            assert table is not None and table.holds(snap, per_product_names(pipeline.model.feature_names))


def test_the_build_waits_for_a_build_aside_and_holds_the_tables_since_swapped(small_models: Path) -> None:
    snap = FeatureSnapshot.load(small_models / "latest" / "snapshot")
    stale = product_feature_table(snap, feature_names())
    products = snap.products
    lock = snap.derived.setdefault(BUILD_LOCK_KEY, threading.Lock())
    lock.acquire()  # a build aside in progress (for the table before the swap)
    snap.products = EntityTable(products.ids, {**products.columns, "rating": products.columns["rating"] * 0})
    got: list = []
    waiting = threading.Thread(target=lambda: got.append(built_product_feature_table(snap, feature_names())))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive() and not got  # it waits for the build aside
    lock.release()
    waiting.join(30)
    assert got and got[0] is not stale and got[0].holds(snap, per_product_names(feature_names()))
    assert snap.derived[CACHE_KEY] is got[0]
