"""Bundles: written whole, verified on load, refused with the reason when anything is off."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from ranking.bundle import BundleError, load_bundle, point_latest, resolve_bundle, write_bundle
from ranking.features import feature_names
from ranking.settings import Settings
from training.data.mall_data import load_mall
from training.learning.dataset import DAY_MS, mall_day_zero_ms
from training.learning.snapshot_builder import build_snapshot


@pytest.fixture(scope="module")
def parts(small_mall: Path):
    mall = load_mall(small_mall)
    snapshot = build_snapshot(mall, mall_day_zero_ms(mall, "Asia/Shanghai") + 10 * DAY_MS, Settings())
    names = feature_names()
    rng = np.random.default_rng(0)
    x = rng.random((400, len(names)))
    y = rng.integers(0, 3, 400)
    data = lgb.Dataset(x, y, group=[20] * 20, feature_name=names)
    booster = lgb.train({"objective": "lambdarank", "verbosity": -1, "num_leaves": 4}, data, 5)
    return booster.model_to_string(), snapshot


def test_a_written_bundle_loads_and_latest_points_at_it(parts, tmp_path: Path) -> None:
    model_text, snapshot = parts
    path = write_bundle(tmp_path, model_text, snapshot, {"note": "test"})
    bundle = load_bundle(tmp_path / "latest")
    assert bundle.path == path and bundle.manifest["note"] == "test"
    assert set(bundle.manifest["files"]) >= {"model.txt", "feature_schema.json",
                                             "snapshot/arrays.npz", "snapshot/meta.json"}
    assert bundle.model.feature_names == feature_names()
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_corrupted_file_is_refused_with_the_reason(parts, tmp_path: Path) -> None:
    model_text, snapshot = parts
    path = write_bundle(tmp_path, model_text, snapshot, {})
    arrays = path / "snapshot" / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:-100])
    with pytest.raises(BundleError, match=r"snapshot/arrays\.npz does not match its hash"):
        load_bundle(path)


def test_a_bundle_whose_schema_differs_from_the_code_is_refused(parts, tmp_path: Path) -> None:
    model_text, snapshot = parts
    path = write_bundle(tmp_path, model_text, snapshot, {})
    schema_file = path / "feature_schema.json"
    rows = json.loads(schema_file.read_text())[:-1]
    schema_file.write_text(json.dumps(rows))
    manifest = json.loads((path / "manifest.json").read_text())
    import hashlib

    manifest["files"]["feature_schema.json"] = hashlib.sha256(schema_file.read_bytes()).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="feature schema differs from the code"):
        load_bundle(path)


def test_a_folder_without_manifest_and_paths_outside_models_are_refused(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        load_bundle(tmp_path / "half")
    with pytest.raises(BundleError, match="must stay inside"):
        resolve_bundle(tmp_path / ".." / "elsewhere", models_dir=tmp_path)


def test_latest_moves_atomically_between_versions(parts, tmp_path: Path) -> None:
    model_text, snapshot = parts
    first = write_bundle(tmp_path, model_text, snapshot, {})
    second = write_bundle(tmp_path, model_text + "\n", snapshot, {}, move_latest=False)
    assert (tmp_path / "latest").resolve() == first
    point_latest(tmp_path, second.name)
    assert (tmp_path / "latest").resolve() == second
