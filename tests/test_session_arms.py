"""Arms: one bundle served twice under different settings, the same multi-page sessions played
against each over real HTTP, GMV per session compared paired."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ranking.event_log import read_event_log
from shelfrank.cli import app
from training.experiments.session_arms import check_arms, compare_arms


def test_arms_play_the_same_sessions_page_by_page_under_their_settings(small_mall, small_models, tmp_path):
    out = tmp_path / "arms.json"
    result = CliRunner().invoke(app, [
        "experiment", "arms", "--data", str(small_mall), "--bundle", str(small_models / "latest"),
        "--arm", "frozen", "--arm", "live", "--arm-set", "frozen:serving.log_exposures=false",
        "--sessions", "40", "--work", str(tmp_path / "work"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())
    assert (got["control"], got["treatment"]) == ("frozen", "live")
    assert got["arms"]["frozen"]["overrides"] == ["serving.log_exposures=false"]
    assert got["comparison"]["paired_sessions"] == 40
    for name in ("frozen", "live"):
        arm = got["arms"][name]
        assert arm["sessions"] == 40 and arm["pages_per_session"]["value"] > 1.0
        g = arm["gmv_per_session"]
        assert g["ci95"][0] <= g["value"] <= g["ci95"][1]
    gmv = got["comparison"]["gmv"]
    assert gmv["ci95"][0] <= gmv["difference_per_session"] <= gmv["ci95"][1]
    assert gmv["ci95_above_zero"] == (gmv["ci95"][0] > 0)
    logs = {name: read_event_log(tmp_path / "work" / name / "events").tables for name in ("frozen", "live")}
    # every page's impressions were posted: one request per page played
    for name, tables in logs.items():
        pages = round(got["arms"][name]["pages_per_session"]["value"] * 40)
        assert tables["impressions"].to_pandas().request_id.nunique() == pages
    # the override reached the frozen arm's service only
    assert logs["frozen"].get("exposures") is None or logs["frozen"]["exposures"].num_rows == 0
    assert logs["live"]["exposures"].num_rows == logs["live"]["impressions"].num_rows > 0


def test_arms_must_be_two_and_their_overrides_valid(small_mall, tmp_path):
    with pytest.raises(ValueError, match="two arms"):
        check_arms({"live": []})
    with pytest.raises(ValueError, match="no_such_field"):
        check_arms({"frozen": ["serving.no_such_field=1"], "live": []})
    bad = CliRunner().invoke(app, ["experiment", "arms", "--data", str(small_mall), "--bundle", str(tmp_path),
                                   "--arm", "a", "--arm", "b", "--arm-set", "c:rules.theme_boost=0"])
    assert bad.exit_code == 2 and "NAME:section.key=value" in bad.output
    bad = CliRunner().invoke(app, ["experiment", "arms", "--data", str(small_mall), "--bundle", str(tmp_path),
                                   "--arm", "a", "--arm", "b", "--arm-set", "a:rules.nope=0"])
    assert bad.exit_code == 2 and "nope" in bad.output


def test_the_comparison_is_paired_by_session():
    rng = np.random.default_rng(0)
    base = rng.exponential(50.0, 400)
    control = pd.DataFrame({"session": np.arange(400), "user_id": np.arange(400), "gmv": base,
                            "orders": (base > 40).astype(int), "clicks": np.ones(400)})
    treatment = control.assign(gmv=base + 5.0)  # +5 per session, the same sessions
    got = compare_arms(control, treatment)
    assert got["gmv"]["difference_per_session"] == pytest.approx(5.0)
    assert got["gmv"]["ci95_above_zero"] and got["gmv"]["ci95"][1] - got["gmv"]["ci95"][0] < 1e-6
    assert got["gmv"]["lift"] == pytest.approx(5.0 / base.mean())
    with pytest.raises(ValueError, match="different shoppers"):
        compare_arms(control, treatment.assign(user_id=treatment.user_id + 1))
