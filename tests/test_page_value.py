"""Truth page value: the closed loop's expected outcome from the simulator's truth, per bundle."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from shelfrank.cli import app


def _run(*args: str):
    return CliRunner().invoke(app, ["experiment", "page-value", *args, "--no-progress"])


def test_a_bundle_against_itself_has_zero_lift_and_a_value_tilt_sells_dearer(
        small_mall, small_models, tmp_path):
    bundle = str(small_models / "latest")
    same = tmp_path / "same.json"
    result = _run("--data", str(small_mall), "--treatment", bundle, "--control", bundle,
                  "--contexts", "150", "--json", str(same))
    assert result.exit_code == 0, result.output
    out = json.loads(same.read_text())
    for outcome in ("clicks", "orders", "gmv"):
        assert out["lift"][outcome]["lift"] == 0.0  # same pages, same truth
        lo, hi = out["treatment"][outcome]["ci95"]
        assert 0 < lo <= out["treatment"][outcome]["per_page"] <= hi
    assert out["treatment"]["orders"]["per_page"] < out["treatment"]["clicks"]["per_page"]

    tilted = tmp_path / "tilted.json"
    result = _run("--data", str(small_mall), "--treatment", bundle, "--control", bundle,
                  "--contexts", "150", "--treatment-rule", "value_weight=1.0", "--json", str(tilted))
    assert result.exit_code == 0, result.output
    t = json.loads(tilted.read_text())
    assert t["treatment_rules"] == {"value_weight": 1.0}
    # ranking by expected order value shows dearer cards and earns more per order
    assert t["treatment"]["mean_price_shown"]["per_page"] > 1.2 * t["control"]["mean_price_shown"]["per_page"]
    value_per_order = {arm: t[arm]["gmv"]["per_page"] / t[arm]["orders"]["per_page"]
                       for arm in ("treatment", "control")}
    assert value_per_order["treatment"] > value_per_order["control"]


def test_page_value_refuses_a_mall_without_truth_and_unknown_rules(small_mall, small_models, tmp_path):
    bundle = str(small_models / "latest")
    result = _run("--data", str(tmp_path), "--treatment", bundle)
    assert result.exit_code == 2 and "no truth" in result.output
    result = _run("--data", str(small_mall), "--treatment", bundle, "--treatment-rule", "no_such_rule=1")
    assert result.exit_code == 2 and "no_such_rule" in result.output


def test_page_value_counts_the_sessions_mission_on_its_first_page(small_mall, small_models, tmp_path):
    """The same pages valued with and without the mission's pull (simulator.mission_boost=0):
    the closed loop's shoppers click more with it, since many pages hold their mission leaf."""
    bundle = str(small_models / "latest")
    got = {}
    for name, sets in (("mission", []), ("none", ["--set", "simulator.mission_boost=0"])):
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(app, [*sets, "experiment", "page-value", "--data", str(small_mall),
                                          "--treatment", bundle, "--contexts", "150", "--json", str(out),
                                          "--no-progress"])
        assert result.exit_code == 0, result.output
        got[name] = json.loads(out.read_text())["treatment"]
    assert got["mission"]["mean_price_shown"] == got["none"]["mean_price_shown"]  # the same pages
    assert got["mission"]["clicks"]["per_page"] > 1.05 * got["none"]["clicks"]["per_page"]
