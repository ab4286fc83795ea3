"""The closed loop end to end on the small mall: real service, simulated shoppers, analysis."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shelfrank.cli import app

# shoppers played against the real service. The traffic and the sessions-to-detect resampling
# (run three times below; it searches up to 25 times the logged sessions) grow with them; the
# checks do not need 400: at 400 the log held 549 pages, 285 of them interleaved, so at 200
# about 140 interleaved requests still clear the 100 asserted, and every page is still checked
SESSIONS = 200


@pytest.mark.usefixtures("one_blas_thread")  # here and in the service: tests/conftest.py
def test_closed_loop_serves_both_arms_logs_every_session_and_reports(small_mall, small_models, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("SHELFRANK_LIVE__POLL_MS", "10")  # the service started below reads it
    # and stops at once at the end (no load balancer to drain for: tests/service_process.py)
    monkeypatch.setenv("SHELFRANK_SERVING__DRAIN_SECONDS", "0")
    out = tmp_path / "result.json"
    result = CliRunner().invoke(
        app,
        [
            "--set",
            "training.num_boost_round=40",
            "--set",  # the control clone is trained only to be a second arm: no live replay
            "training.live_features=false",
            "--set",  # shoppers read a page for 30 ms and the service (env below) polls its log
            "simulator.closed_loop_think_ms=30",  # every 10 ms: the next page reacts to the last
            "--set",
            "counterfactual.contexts=150",
            "--set",
            "counterfactual.reward.num_boost_round=30",
            "--set",  # the counterfactual block's keys and positive estimates are checked here, its
            "counterfactual.reward_request_sample=0.2",  # accuracy in test_whole_page: 17k cards, not 50k
            "experiment",
            "closed-loop",
            "--data",
            str(small_mall),
            "--treatment",
            str(small_models / "latest"),
            "--control",
            "logging-policy",
            "--sessions",  # the command's floor is 100
            str(SESSIONS),
            "--work",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    got = json.loads(out.read_text())
    assert got["sessions"] == SESSIONS
    for metric in ("gmv_per_session", "ctr"):
        block = got["ab"][metric]
        assert set(block) >= {"control", "treatment", "lift", "ci95"}
        assert block["ci95"][0] <= block["lift"] <= block["ci95"][1]
    il = got["interleaving"]
    # every session landed in exactly one of the two experiments, and each was logged once
    # (a session is several pages: one request each)
    assert got["pages"] > SESSIONS and il["requests"] + got["ab_requests"] == got["pages"]
    assert il["requests"] > 100
    detect = got["sessions_to_detect"]
    assert set(detect) >= {"ab", "interleaving", "interleaving_mean_test", "winner", "by_outcome"}
    assert detect["outcome"] == "gmv" and set(detect["by_outcome"]) == {"gmv", "clicks", "orders"}
    assert il["credit"] == "gmv" and il["shared_card_share"] is not None
    # the same numbers again from the log alone
    again = CliRunner().invoke(app, ["experiment", "sessions-to-detect", "--events",
                                     str(tmp_path / "work" / "events"), "--json", str(tmp_path / "d.json")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "d.json").read_text()) == detect
    unshared = CliRunner().invoke(app, ["experiment", "sessions-to-detect", "--events",
                                        str(tmp_path / "work" / "events"), "--no-credit-shared"])
    assert unshared.exit_code == 0 and "gmv" in unshared.output
    wrong = CliRunner().invoke(app, ["experiment", "sessions-to-detect", "--events",
                                     str(tmp_path / "work" / "events"), "--ab", "nope"])
    assert wrong.exit_code == 2 and "nope" in wrong.output
    # the shoppers posted impressions as a frontend does, so the traffic merges into training rows
    merged = CliRunner().invoke(app, ["merge-events", "--data", str(small_mall), "--events",
                                      str(tmp_path / "work" / "events"), "--out", str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.output
    from ranking.event_log import read_event_log

    logged = read_event_log(tmp_path / "work" / "events").tables
    assert logged["impressions"].num_rows == logged["exposures"].num_rows > 0
    assert f"impressions: +{logged['impressions'].num_rows:,} rows" in merged.output
    cf = got["counterfactual"]
    assert set(cf["gmv_per_session"]) >= {"treatment", "control", "lift", "lift_ci95"}
    assert cf["gmv_per_session"]["treatment"] > 0 and cf["gmv_per_session"]["control"] > 0
    assert set(cf["vs_online"]) >= {"estimated_lift", "online_lift", "online_lift_ci95", "inside_online_ci95",
                                    "distance_to_online_ci95"}
    # the previous estimator is reported beside it, under its own name
    assert {"gmv_snips", "gmv_ips"} <= set(cf["randomised_block"]["treatment"])
    assert (tmp_path / "work" / "report" / "report.md").is_file()
    # the clone learns slots (graded 3/2/1/0), which only LambdaRank reads as a ranking
    clone = json.loads((tmp_path / "work" / "logging-policy-models" / "latest" / "manifest.json").read_text())
    assert clone["kind"] == "logging-policy-clone" and clone["training"]["model"] == "lambdarank"


def test_treatment_rules_reach_only_the_treatment_variant_and_unknown_rules_are_refused(tmp_path):
    from pathlib import Path

    import pytest

    from ranking.experiments import ExperimentsConfig
    from ranking.settings import parse_overrides
    from training.experiments.closed_loop_run import closed_loop_config

    rules = parse_overrides(["value_weight=0.5", "theme_boost=0"])
    assert rules == {"value_weight": 0.5, "theme_boost": 0}
    config = closed_loop_config(Path("/m"), 7, rules)
    for exp in config["experiments"]:
        control, treatment = exp["variants"]
        assert "rules" not in control and treatment["rules"] == rules
    ExperimentsConfig.model_validate(config)  # known rules pass
    with pytest.raises(ValueError, match="no_such_rule"):
        ExperimentsConfig.model_validate(closed_loop_config(Path("/m"), 7, {"no_such_rule": 1}))
    result = CliRunner().invoke(app, ["experiment", "closed-loop", "--data", str(tmp_path),
                                      "--treatment", str(tmp_path), "--treatment-rule", "oops"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output


def test_simulated_shoppers_cart_more_than_they_order_without_changing_clicks_or_orders():
    """Carts follow the simulator's funnel, P(cart | click) = sqrt(P(order | click)); the
    cart dice come last, so clicks and orders are the draws they were before carts."""
    import numpy as np

    from training.experiments.closed_loop import Shoppers

    class FixedTruth(Shoppers):
        def __init__(self) -> None:  # no mall: fixed probabilities per card
            pass

        def card_probabilities(self, users, products, hours, positions):
            n = len(users)
            return np.full(n, 0.9), np.full(n, 0.6), np.full(n, 0.25)

    shoppers = FixedTruth()
    cards = [{"product_id": i, "position": i + 1} for i in range(20)]
    clicks = carts = orders = 0
    for session in range(3000):
        clicked, carted, ordered = shoppers.react(1, 9, cards, np.random.default_rng([7, session]))
        # the draws before carts existed: the first three blocks of 100 dice
        before = np.random.default_rng([7, session])
        u_exam, u_click, u_order = before.random(100), before.random(100), before.random(100)
        old_clicked = (u_exam[:20] < 0.9) & (u_click[:20] < 0.6)
        assert (clicked == old_clicked).all() and (ordered == (old_clicked & (u_order[:20] < 0.25))).all()
        assert not (ordered & ~carted).any() and not (carted & ~clicked).any()
        clicks, carts, orders = clicks + clicked.sum(), carts + carted.sum(), orders + ordered.sum()
    assert abs(carts / clicks - 0.5) < 0.01  # sqrt(0.25)
    assert abs(orders / clicks - 0.25) < 0.01
    assert shoppers.react(1, 9, [], np.random.default_rng(0))[1].shape == (0,)
