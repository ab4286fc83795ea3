"""The ``shelfrank`` command line: help everywhere, settings overrides, validate exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from shelfrank.cli import app

runner = CliRunner()


def _all_command_paths() -> list[list[str]]:
    root = get_command(app)
    paths: list[list[str]] = []

    def walk(cmd, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p) or "root")
def test_every_command_has_help(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_settings_reflect_set_overrides_and_refuse_unknown_keys() -> None:
    ok = runner.invoke(app, ["--set", "scores.window_days=45", "settings"])
    assert ok.exit_code == 0 and '"window_days": 45' in ok.output
    bad = runner.invoke(app, ["--set", "scores.window_dayz=45", "settings"])
    assert bad.exit_code != 0
    assert "window_dayz" in bad.output


def test_settings_read_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELFRANK_SIMULATOR__SEED", "99")
    result = runner.invoke(app, ["settings"])
    assert '"seed": 99' in result.output


def test_one_tree_setting_overridden_keeps_its_models_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from ranking.settings import Settings, load_settings

    monkeypatch.setenv("SHELFRANK_TRAINING__FUNNEL__LEARNING_RATE", "0.2")
    funnel = Settings().training.funnel
    assert funnel.learning_rate == 0.2 and funnel.num_boost_round == 400  # not the generic default
    got = load_settings(["counterfactual.reward.num_boost_round=20"]).counterfactual.reward
    assert got.num_boost_round == 20 and got.learning_rate == 0.08
    assert load_settings([]).training.funnel.lightgbm_params() == {
        "num_leaves": 31, "learning_rate": 0.2, "min_data_in_leaf": 200}


def test_simulate_then_validate_passes(tmp_path: Path) -> None:
    out = tmp_path / "mall"
    sim = runner.invoke(app, ["simulate", "--scale", "small", "--seed", "3", "--out", str(out),
                              "--no-progress"])
    assert sim.exit_code == 0, sim.output
    assert "impressions" in sim.output
    result = runner.invoke(app, ["validate", str(out)])
    assert result.exit_code == 0, result.output
    assert "15 tables meet their contracts" in result.output


def test_validate_fails_clearly_on_a_corrupted_table(small_mall: Path, tmp_path: Path) -> None:
    copy = tmp_path / "mall"
    shutil.copytree(small_mall, copy)
    orders = copy / "orders.parquet"
    orders.write_bytes(orders.read_bytes()[: orders.stat().st_size // 2])
    result = runner.invoke(app, ["validate", str(copy)])
    assert result.exit_code == 1
    assert "orders.parquet: not a readable Parquet file" in result.output


def test_validate_names_a_dangling_reference(small_mall: Path, tmp_path: Path) -> None:
    import pyarrow.compute as pc

    from ranking.contracts import read_table, write_table

    copy = tmp_path / "mall"
    shutil.copytree(small_mall, copy)
    products = read_table(copy, "products")
    stores = read_table(copy, "stores")
    keep = pc.not_equal(stores.column("store_id"), products.column("store_id")[0])
    write_table(copy, "stores", stores.filter(keep))
    result = runner.invoke(app, ["validate", str(copy)])
    assert result.exit_code == 1
    assert "column 'store_id'" in result.output and "stores.store_id" in result.output


def test_simulate_rejects_an_unknown_scale(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--scale", "huge", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "small, default or large" in result.output
