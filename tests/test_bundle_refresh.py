"""Daily score refresh (issue 26): a bundle's score and feature tables recomputed as of a later
day, its model, recall and catalog kept byte for byte, refused when it cannot be right, and
hot-swapped by the running service without a failed request.

The bundle here is trained on the small mall cut a week short (every impression, click, cart
and order of the last 7 days left out), then refreshed with the whole small mall: the week
the bundle never saw.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import time
from pathlib import Path

import httpx2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from ranking.bundle import load_bundle
from ranking.contracts import read_table, write_table
from ranking.settings import Settings, load_settings
from shelfrank.cli import app
from training.data.mall_data import load_mall
from training.learning import refresh as refresh_module
from training.learning.refresh import RefreshRefusedError, refresh_bundle
from training.learning.train import end_of_logs_ms, train_bundle

CUT_DAYS = 7
REPRICED = 0.5  # the refresh's mall halves one product's price


def _copy_with(src: Path, dst: Path, **tables: pa.Table) -> Path:
    shutil.copytree(src, dst)
    for name, table in tables.items():
        write_table(dst, name, table)
    return dst


@pytest.fixture(scope="module")
def early_mall(small_mall: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small mall without its last week of impressions, clicks, carts and orders."""
    # cut at a mall midnight, so the early bundle's cut is exactly CUT_DAYS before the later one's
    cut_ms = end_of_logs_ms(load_mall(small_mall), Settings()) - CUT_DAYS * 86_400_000
    cut = pa.scalar(cut_ms, pa.timestamp("ms", tz="UTC"))
    cut_tables = {}
    for name in ("impressions", "clicks", "carts", "orders"):
        table = read_table(small_mall, name)
        cut_tables[name] = table.filter(pc.less(table.column("timestamp"), cut))
    return _copy_with(small_mall, tmp_path_factory.mktemp("early") / "mall", **cut_tables)


@pytest.fixture(scope="module")
def early_models(early_mall: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("early_models")
    settings = load_settings(["training.num_boost_round=60", "training.early_stopping_rounds=15",
                              "training.funnel.num_boost_round=120"])
    train_bundle(early_mall, models, settings, progress=False)
    return models


@pytest.fixture(scope="module")
def later_mall(small_mall: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The whole small mall, one product repriced (prices change daily too): (folder, its id)."""
    products = read_table(small_mall, "products")
    pid = products.column("product_id")[3].as_py()
    price = pc.if_else(pc.equal(products.column("product_id"), pid),
                       pc.multiply(products.column("price"), REPRICED), products.column("price"))
    products = products.set_column(products.schema.get_field_index("price"), "price", price)
    return _copy_with(small_mall, tmp_path_factory.mktemp("later") / "mall", products=products), pid


@pytest.fixture(scope="module")
def refreshed(early_models: Path, later_mall, tmp_path_factory: pytest.TempPathFactory):
    """The early bundle refreshed with the later mall, into a models folder of its own."""
    out = tmp_path_factory.mktemp("refreshed")
    return refresh_bundle(early_models / "latest", later_mall[0], out, Settings())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_refresh_keeps_the_model_recall_and_catalog_byte_for_byte(early_models, later_mall,
                                                                     refreshed) -> None:
    parent = (early_models / "latest").resolve()
    new = refreshed.path
    record = refreshed.manifest["refresh"]
    kept = record["kept"]
    assert {"model.txt", "feature_schema.json", "catalog/products.parquet",
            "catalog/stores.parquet"} <= set(kept)
    assert any(rel.startswith("recall/search/") for rel in kept)
    assert any(rel.startswith("recall/homepage/") for rel in kept)
    assert not any(rel.startswith("snapshot/") for rel in kept)
    parent_files = json.loads((parent / "manifest.json").read_text())["files"]
    assert set(kept) == {rel for rel in parent_files if not rel.startswith("snapshot/")}
    for rel in kept:
        assert (new / rel).read_bytes() == (parent / rel).read_bytes(), rel
        assert refreshed.manifest["files"][rel] == parent_files[rel] == _sha(new / rel), rel
    # the snapshot is the recomputed part: as of the later mall's end, scores and price moved
    assert refreshed.manifest["files"]["snapshot/arrays.npz"] != parent_files["snapshot/arrays.npz"]
    old, now = load_bundle(parent), load_bundle(new)  # verifies like any bundle
    mall = load_mall(later_mall[0])
    assert now.snapshot.as_of_ms == end_of_logs_ms(mall, Settings()) == record["as_of_ms"]
    assert now.snapshot.as_of_ms - old.snapshot.as_of_ms == CUT_DAYS * 86_400_000
    assert refreshed.changed_products > len(now.snapshot.products.ids) // 2
    assert refreshed.changed_stores > 0
    row = int(now.snapshot.products.rows(np.array([later_mall[1]]))[0])
    assert now.snapshot.products.columns["price"][row] == pytest.approx(
        old.snapshot.products.columns["price"][row] * REPRICED)
    assert record["parent_version"] == record["model_version"] == old.version != now.version
    assert now.version.endswith(old.version.rsplit("-", 1)[1])  # the model's hash names both
    assert now.model.feature_names == old.model.feature_names
    assert (new.parent / "latest").resolve() == new


def test_a_refresh_on_the_bundles_own_data_rebuilds_its_training_snapshot_exactly(
        early_models, early_mall, tmp_path) -> None:
    """The same builder as training: refreshing a bundle with the data it was trained on
    gives back the very snapshot training wrote, array for array; under the scores and history
    settings the bundle was trained with, whatever the current ones say (the model learnt its
    features under those)."""
    changed = load_settings(["scores.window_days=30", "scores.prior_strength=5",
                             "training.history_days=7"])
    result = refresh_bundle(early_models / "latest", early_mall, tmp_path / "models", changed,
                            move_latest=False)
    parent = (early_models / "latest").resolve()
    assert not (tmp_path / "models" / "latest").exists()
    with np.load(parent / "snapshot/arrays.npz") as a, np.load(result.path / "snapshot/arrays.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert json.loads((parent / "snapshot/meta.json").read_text()) == json.loads(
        (result.path / "snapshot/meta.json").read_text())
    assert result.changed_products == result.changed_stores == 0


def _nothing_written(models: Path, before: set[str]) -> None:
    assert {p.name for p in models.iterdir()} == before


def test_data_older_than_the_bundle_and_as_of_outside_its_window_are_refused(
        early_models, early_mall, later_mall, refreshed) -> None:
    models = refreshed.path.parent
    before = {p.name for p in models.iterdir()}
    with pytest.raises(RefreshRefusedError, match=r"before the bundle's cut .* older than the bundle"):
        refresh_bundle(refreshed.path, early_mall, models, Settings())
    cut = load_bundle(early_models / "latest").snapshot.as_of_ms
    with pytest.raises(RefreshRefusedError, match="before the bundle's cut"):
        refresh_bundle(early_models / "latest", later_mall[0], models, Settings(), as_of_ms=cut - 1)
    end = refreshed.manifest["refresh"]["as_of_ms"]
    with pytest.raises(RefreshRefusedError, match=r"after the data's end .* --events"):
        refresh_bundle(early_models / "latest", later_mall[0], models, Settings(), as_of_ms=end + 1)
    _nothing_written(models, before)


def test_a_catalog_other_than_the_bundles_is_refused(early_models, small_mall, tmp_path) -> None:
    products = read_table(small_mall, "products")
    stores = read_table(small_mall, "stores")
    first = products.column("product_id")[0].as_py()
    titles = pc.if_else(pc.equal(products.column("product_id"), first), "完全不同的 名字 widget",
                        products.column("title"))
    retitled = products.set_column(products.schema.get_field_index("title"), "title", titles)
    new_row = products.slice(0, 1).to_pylist()[0] | {"product_id": pc.max(products.column("product_id"))
                                                    .as_py() + 1}
    added = pa.concat_tables([products, pa.Table.from_pylist([new_row], schema=products.schema)])
    names = pc.if_else(pc.equal(stores.column("store_id"), stores.column("store_id")[0]),
                       "another name", stores.column("name"))
    renamed = stores.set_column(stores.schema.get_field_index("name"), "name", names)
    models = tmp_path / "models"
    cases = (({"products": retitled}, rf"products' text .*\[{first}\b.*search index"),
             ({"stores": renamed}, r"1 store names differ from the bundle's cards"))
    for i, (tables, reason) in enumerate(cases):
        mall = _copy_with(small_mall, tmp_path / f"mall{i}", **tables)
        with pytest.raises(RefreshRefusedError, match=f"catalog is not the bundle's: .*{reason}"):
            refresh_bundle(early_models / "latest", mall, models, Settings())
    assert not models.exists() or not [p for p in models.iterdir() if not p.name.startswith(".refresh")]
    # a product listed after the bundle (the live catalog's, folded in by merge-events) is
    # left out of the refresh, not a reason to refuse it: the service lays it over again
    mall = _copy_with(small_mall, tmp_path / "listed_later", products=added)
    result = refresh_bundle(early_models / "latest", mall, models, Settings())
    assert result.manifest["refresh"]["left_out_listed_after_the_bundle"] == {
        "products": 1, "stores": 0, "event_rows": 0}
    refreshed = load_bundle(result.path)
    parent = load_bundle(early_models / "latest")
    assert np.array_equal(refreshed.snapshot.products.ids, parent.snapshot.products.ids)


def test_a_bundle_whose_schema_the_new_snapshot_cannot_fill_is_refused(
        early_models, later_mall, tmp_path, monkeypatch) -> None:
    # a bundle trained by other code (its schema lacks a feature this code computes)
    old = tmp_path / "old" / "v1"
    shutil.copytree((early_models / "latest").resolve(), old)
    rows = json.loads((old / "feature_schema.json").read_text())[:-1]
    (old / "feature_schema.json").write_text(json.dumps(rows))
    manifest = json.loads((old / "manifest.json").read_text())
    manifest["files"]["feature_schema.json"] = _sha(old / "feature_schema.json")
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RefreshRefusedError, match=r"feature schema differs from the code.*retrain"):
        refresh_bundle(old, later_mall[0], tmp_path / "models", Settings())
    # a snapshot builder that no longer gives a column the model's features read
    real = refresh_module.build_snapshot

    def without_quality(*args, **kwargs):
        snapshot = real(*args, **kwargs)
        del snapshot.products.columns["product_quality"]
        return snapshot

    monkeypatch.setattr(refresh_module, "build_snapshot", without_quality)
    with pytest.raises(RefreshRefusedError, match=r"schema would change: .*lack the columns "
                                                  r"\['product_quality'\].*feature 'product_quality'"):
        refresh_bundle(early_models / "latest", later_mall[0], tmp_path / "models", Settings())
    assert not (tmp_path / "models").exists() or not [
        p for p in (tmp_path / "models").iterdir() if not p.name.startswith(".refresh")]


def _last_week_as_an_event_log(small_mall: Path, early_mall: Path, folder: Path) -> Path:
    """The week the early mall lacks, written as the service writes its event log."""
    from ranking.event_log import EventLog

    log = EventLog(folder, writer="w1")
    for name in ("impressions", "clicks", "carts", "orders"):
        full, early = read_table(small_mall, name), read_table(early_mall, name)
        week = full.filter(pc.greater(full.column("timestamp"), pc.max(early.column("timestamp"))))
        week = week.set_column(week.schema.get_field_index("timestamp"), "timestamp",
                               pc.cast(week.column("timestamp"), pa.int64()))
        rows = week.to_pylist()
        for start in range(0, len(rows), 5000):
            log.append({name: rows[start:start + 5000]}, client="test")
    log.close()
    return folder


def test_a_refresh_with_the_services_event_log_equals_one_on_the_merged_data(
        early_models, early_mall, small_mall, tmp_path) -> None:
    events = _last_week_as_an_event_log(small_mall, early_mall, tmp_path / "events")
    logged = refresh_bundle(early_models / "latest", early_mall, tmp_path / "a", Settings(),
                            events_dir=events)
    whole = refresh_bundle(early_models / "latest", small_mall, tmp_path / "b", Settings())
    assert logged.manifest["refresh"]["events_dir"] == str(events)
    week = {name: read_table(small_mall, name).num_rows - read_table(early_mall, name).num_rows
            for name in ("impressions", "clicks", "carts", "orders")}
    assert logged.manifest["refresh"]["merged_events"] == week
    assert logged.manifest["refresh"]["as_of_ms"] == whole.manifest["refresh"]["as_of_ms"]
    assert logged.changed_products > 0
    with np.load(logged.path / "snapshot/arrays.npz") as a, np.load(whole.path / "snapshot/arrays.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".refresh")]


def test_the_command_refreshes_and_refuses_in_one_line(early_models, early_mall, later_mall,
                                                       tmp_path) -> None:
    runner = CliRunner()
    models = tmp_path / "models"
    shutil.copytree((early_models / "latest").resolve(), models / "v1")
    result = runner.invoke(app, ["scores", "refresh", "--bundle", str(models / "v1"),
                                 "--data", str(later_mall[0])])
    assert result.exit_code == 0, result.output
    assert "refreshed from" in result.output and "product scores" in result.output
    new = (models / "latest").resolve()
    assert new.parent == models and new.name != "v1"
    result = runner.invoke(app, ["scores", "refresh", "--bundle", str(models / "latest"),
                                 "--data", str(early_mall)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: refused: the data ends at")
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["scores", "refresh", "--bundle", str(models / "v1"),
                                 "--data", str(later_mall[0]), "--as-of", "not a date"])
    assert result.exit_code == 2 and "not an ISO date" in result.output


def _served_paths_once_all_are(url: str, wanted: str, seconds: float = 60) -> set[str]:
    """The bundle paths the workers answer with, polled until all are ``wanted`` or time is up
    (the other worker follows the control file: a poll, then a full load and verify)."""
    deadline, paths = time.time() + seconds, set()
    while time.time() < deadline and paths != {wanted}:
        paths = set()
        for _ in range(20):  # new connections land on either worker
            with httpx2.Client(base_url=url, timeout=5) as fresh:
                paths.add(fresh.get("/readyz", headers={"Authorization": "Bearer s3cret"})
                          .json()["bundle_path"])
        time.sleep(0.2)
    return paths


@pytest.mark.slow
def test_the_service_hot_swaps_a_refresh_under_load_and_keeps_its_model(early_models, later_mall,
                                                                        tmp_path) -> None:
    from service_process import background_load, start_service, stop_service

    models = tmp_path / "models"
    parent = load_bundle(early_models / "latest")
    shutil.copytree(parent.path, models / parent.version)
    (models / "latest").symlink_to(parent.version)
    proc, url = start_service(models, tmp_path / "events", workers=2)
    auth = {"Authorization": "Bearer s3cret"}
    try:
        body = {"surface": "homepage", "candidates": [int(i) for i in parent.snapshot.products.ids[:60]]}
        before = httpx2.post(f"{url}/v1/rerank?explain=true", json=body, timeout=30).json()
        with background_load(url, "/v1/rerank?explain=true", body) as load:
            result = refresh_bundle(models / "latest", later_mall[0], models, Settings())
            r = httpx2.post(f"{url}/admin/reload", json={"bundle": "latest"}, headers=auth, timeout=120)
            assert r.status_code == 200, r.text
            paths = _served_paths_once_all_are(url, str(result.path.resolve()))
        assert paths == {str(result.path.resolve())}, "every worker serves the refreshed bundle"
        assert load.failures == [] and load.served > 0
        after = httpx2.post(f"{url}/v1/rerank?explain=true", json=body, timeout=30).json()
        served_manifest = httpx2.get(f"{url}/v1/bundle", timeout=10).json()
    finally:
        stop_service(proc, signal.SIGKILL)
    assert before["bundle_version"] == parent.version and after["bundle_version"] == result.path.name
    assert served_manifest["files"]["model.txt"] == parent.manifest["files"]["model.txt"]
    assert served_manifest["refresh"]["parent_version"] == parent.version
    new = load_bundle(result.path).snapshot
    scores_before = {c["product_id"]: c["product_score"] for c in before["cards"]}
    scores_after = {c["product_id"]: c["product_score"] for c in after["cards"]}
    for pid, score in scores_after.items():  # the cards show the refreshed scores
        row = int(new.products.rows(np.array([pid]))[0])
        assert score == pytest.approx(float(new.products.columns["product_score"][row]), abs=1e-4)
    moved = [p for p in scores_after if p in scores_before
             and abs(scores_after[p] - scores_before[p]) > 1e-3]
    assert moved, "some shown product's score changed with the refresh"
    explained = next(c for c in after["cards"] if c["product_id"] == moved[0])["explanation"]
    assert explained  # explain reads the same refreshed tables


def test_a_refresh_written_in_its_parents_second_waits_for_the_next_one() -> None:
    """Named by the second and the model's hash, a refresh written in the second its parent was
    trained carried the parent's very version (the suite's refresh test failed so on a fast run)."""
    from datetime import UTC, datetime

    from ranking.bundle_refresh import refreshed_version

    parent = type("Parent", (), {"version": "20261207T104536Z-71c28695",
                                 "manifest": {"files": {"model.txt": "71c28695ffff"}}})()
    clock = iter([datetime(2026, 12, 7, 10, 45, 36, 400_000, tzinfo=UTC),
                  datetime(2026, 12, 7, 10, 45, 37, 2_000, tzinfo=UTC)])
    slept: list[float] = []
    created, version = refreshed_version(parent, now=lambda: next(clock), sleep=slept.append)
    assert version == "20261207T104537Z-71c28695" != parent.version and created.second == 37
    assert slept == [pytest.approx(0.601)]
    later = iter([datetime(2026, 12, 7, 11, 0, 0, tzinfo=UTC)])
    assert refreshed_version(parent, now=lambda: next(later), sleep=slept.append)[1] == \
        "20261207T110000Z-71c28695" and len(slept) == 1
