"""Experiment analysis over a synthetic event log with known effects, and counterfactual IPS."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ranking.event_log import EventLog
from ranking.experiments import ExperimentsConfig
from training.experiments.analysis import analyse, interleaving_credit
from training.experiments.counterfactual import block_ranks, counterfactual_estimates
from training.learning.dataset import RankingFrame

CONFIG = ExperimentsConfig.model_validate(
    {
        "experiments": [
            {
                "name": "ab",
                "layer": "a",
                "salt": "s",
                "traffic": 0.5,
                "mode": "ab",
                "variants": [{"name": "control", "share": 0.5}, {"name": "treatment", "share": 0.5}],
            },
            {
                "name": "il",
                "layer": "a",
                "salt": "t",
                "traffic": 0.5,
                "mode": "interleave",
                "credit": "clicks",
                "variants": [{"name": "control", "share": 0.5}, {"name": "treatment", "share": 0.5}],
            },
        ]
    }
)


def _write_log(root, users_per_arm=(600, 600), ctr=(0.10, 0.13), seed=1) -> None:
    rng = np.random.default_rng(seed)
    log = EventLog(root)
    exposures, clicks, orders = [], [], []
    rid = 0
    for arm, n_users, p in (("control", users_per_arm[0], ctr[0]), ("treatment", users_per_arm[1], ctr[1])):
        for u in range(n_users):
            user = u if arm == "control" else 100_000 + u
            for _ in range(int(rng.integers(1, 4))):
                rid += 1
                for pos in range(1, 11):
                    exposures.append(
                        {
                            "request_id": rid,
                            "timestamp": 1_767_225_600_000,
                            "user_id": user,
                            "surface": "homepage",
                            "query_id": None,
                            "product_id": pos,
                            "position": pos,
                            "experiment": "ab",
                            "variant": arm,
                            "team": None,
                            "propensity": 1.0,
                            "bundle_version": "v",
                            "latency_ms": 5.0,
                        }
                    )
                    if rng.random() < p:
                        clicks.append(
                            {
                                "request_id": rid,
                                "timestamp": 1_767_225_601_000,
                                "user_id": user,
                                "product_id": pos,
                                "position": pos,
                            }
                        )
                        if rng.random() < 0.2:
                            orders.append(
                                {
                                    "order_id": rid * 100 + pos,
                                    "request_id": rid,
                                    "timestamp": 1_767_225_602_000,
                                    "user_id": user,
                                    "product_id": pos,
                                    "store_id": 1,
                                    "price_paid": 10.0,
                                    "quantity": 1,
                                    "cancelled": False,
                                }
                            )
    # interleaving: treatment's cards are clicked twice as often
    for r in range(400):
        rid += 1
        for pos in range(1, 7):
            team = "treatment" if pos % 2 else "control"
            exposures.append(
                {
                    "request_id": rid,
                    "timestamp": 1_767_225_600_000,
                    "user_id": 500_000 + r,
                    "surface": "homepage",
                    "query_id": None,
                    "product_id": pos,
                    "position": pos,
                    "experiment": "il",
                    "variant": "control|treatment",
                    "team": team,
                    "propensity": 1.0,
                    "bundle_version": "v",
                    "latency_ms": 6.0,
                }
            )
            if rng.random() < (0.2 if team == "treatment" else 0.1):
                clicks.append(
                    {
                        "request_id": rid,
                        "timestamp": 1_767_225_601_000,
                        "user_id": 500_000 + r,
                        "product_id": pos,
                        "position": pos,
                    }
                )
    log.append({"exposures": exposures, "clicks": clicks, "orders": orders})
    log.close()


def test_ab_lift_and_its_interval_cover_the_true_effect(tmp_path):
    _write_log(tmp_path)
    result = analyse(tmp_path, CONFIG)
    ab = result["experiments"]["ab"]
    t = ab["variants"]["treatment"]
    assert abs(ab["variants"]["control"]["ctr"]["value"] - 0.10) < 0.01
    assert t["ctr"]["lift_ci95"][0] < 0.3 < t["ctr"]["lift_ci95"][1]  # true lift 0.13 / 0.10 - 1
    assert t["ctr"]["lift_ci95"][0] > 0  # detected
    assert not ab["sample_ratio_mismatch"]["mismatch"]
    assert t["users"] == 600 and t["latency_ms"]["p99"] == 5.0
    il = result["experiments"]["il"]
    assert il["credit"] == "clicks"
    assert il["winner"] == "treatment" and il["sign_test_p_value"] < 0.01
    assert il["by_credit"]["clicks"]["mean_difference_ci95"][0] > 0


def test_clicks_and_orders_posted_again_in_a_later_batch_count_once(tmp_path):
    """/v1/events accepts a retry in a later batch (it cannot see earlier ones); the
    analysis keeps the first copy, as merge-events does, instead of crediting it twice."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ranking.event_log import read_event_log

    _write_log(tmp_path)
    once = analyse(tmp_path, CONFIG)
    logged = read_event_log(tmp_path).tables
    retry = EventLog(tmp_path, writer="retry")
    later = {}
    for name in ("clicks", "orders"):
        rows = logged[name].slice(0, 300)
        ms = pc.cast(rows.column("timestamp"), pa.int64()).to_numpy() + 2_000
        later[name] = rows.set_column(rows.column_names.index("timestamp"), "timestamp",
                                      pa.array(ms)).to_pylist()
    retry.append(later)
    retry.close()
    twice = analyse(tmp_path, CONFIG)
    def same(result: dict) -> str:  # as text: NaN != NaN in a dict comparison
        return json.dumps(result["experiments"], sort_keys=True, default=float)

    assert same(twice) == same(once)


def test_sample_ratio_mismatch_is_flagged(tmp_path):
    _write_log(tmp_path, users_per_arm=(700, 500))
    ab = analyse(tmp_path, CONFIG)["experiments"]["ab"]
    assert ab["sample_ratio_mismatch"]["mismatch"]


def _frame(n_requests: int, r: int, eps: float, rng) -> tuple[RankingFrame, np.ndarray]:
    """Randomised blocks of r products whose click probability depends on product and slot."""
    quality = np.linspace(0.5, 0.05, r)  # product k's attractiveness
    exam = 1 / np.arange(1, r + 1)
    rows = []
    for q in range(n_requests):
        policy = np.arange(r)[::-1].copy()  # the logging policy puts the worst product first
        shown = rng.permutation(policy) if rng.random() < eps else policy
        for slot, product in enumerate(shown):
            logged_slot = int(np.flatnonzero(policy == product)[0])
            prop = (1 - eps) * (logged_slot == slot) + eps / r
            click = rng.random() < quality[product] * exam[slot]
            rows.append((q, product, slot + 1, prop, int(click)))
    a = np.array(rows)
    frame = RankingFrame(
        features=np.zeros((len(a), 1), np.float32),
        grade=a[:, 4].astype(np.int8),
        request_id=a[:, 0].astype(np.int64),
        product_id=a[:, 1].astype(np.int64),
        user_id=np.zeros(len(a), np.int64),
        query_id=np.full(len(a), -1),
        hour=np.zeros(len(a), np.int8),
        surface=np.ones(len(a), np.int8),
        position=a[:, 2].astype(np.int16),
        propensity=a[:, 3].astype(float),
        day=np.zeros(len(a), np.int16),
    )
    truth_best = float((quality * exam).sum())  # the ideal order: best product in slot 1
    return frame, np.array([truth_best])


def test_ips_estimates_a_better_policy_from_a_worse_policys_logs():
    rng = np.random.default_rng(5)
    frame, truth = _frame(20_000, 4, 0.3, rng)
    score = -frame.product_id.astype(float)  # new policy: product 0 (best) first
    est = counterfactual_estimates(frame, score, None)["rewards"]["clicks"]
    assert abs(est["ips"] - truth[0]) < 0.05 * truth[0]
    assert abs(est["snips"] - truth[0]) < 0.05 * truth[0]
    assert est["estimated_lift"] > 0.3  # the logged order is the worst one


def test_block_ranks_are_per_request():
    got = block_ranks(np.array([1, 1, 1, 2, 2]), np.array([0.1, 0.9, 0.5, 3.0, 4.0]))
    assert got.tolist() == [3, 1, 2, 2, 1]


def test_counterfactual_refuses_logs_without_randomisation():
    rng = np.random.default_rng(1)
    frame, _ = _frame(50, 3, 0.0, rng)
    frame.propensity[:] = 1.0
    import pytest

    with pytest.raises(ValueError, match="randomisation"):
        counterfactual_estimates(frame, np.zeros(len(frame)), pd.DataFrame())


def _interleaved_log(root, requests: int = 2000, seed: int = 3) -> None:
    """Control's cards are clicked more; treatment's are bought as often but dearer, in
    fewer requests (so GMV's mean favours treatment, its requests won favour neither)."""
    rng = np.random.default_rng(seed)
    log = EventLog(root)
    exposures, clicks, orders = [], [], []
    for rid in range(1, requests + 1):
        for pos in range(1, 7):
            team = "treatment" if pos % 2 else "control"
            exposures.append({"request_id": rid, "timestamp": 1_767_225_600_000, "user_id": rid,
                              "surface": "homepage", "query_id": None, "product_id": pos, "position": pos,
                              "experiment": "il", "variant": "control|treatment", "team": team,
                              "shared": pos == 1, "propensity": 1.0, "bundle_version": "v",
                              "latency_ms": 6.0})
            p_click, p_order, price = (0.2, 0.3, 300.0) if team == "treatment" else (0.4, 0.3, 50.0)
            if rng.random() < p_click:
                clicks.append({"request_id": rid, "timestamp": 1_767_225_601_000, "user_id": rid,
                               "product_id": pos, "position": pos})
                if rng.random() < p_order:
                    orders.append({"order_id": rid * 10 + pos, "request_id": rid,
                                   "timestamp": 1_767_225_602_000, "user_id": rid, "product_id": pos,
                                   "store_id": 1, "price_paid": price, "quantity": 1, "cancelled": False})
    log.append({"exposures": exposures, "clicks": clicks, "orders": orders})
    log.close()


def _il_config(**extra) -> ExperimentsConfig:
    return ExperimentsConfig.model_validate({"experiments": [
        {"name": "il", "salt": "t", "mode": "interleave", **extra,
         "variants": [{"name": "control", "share": 0.5}, {"name": "treatment", "share": 0.5}]}]})


def test_interleaving_credits_gmv_and_says_when_its_two_tests_disagree(tmp_path):
    _interleaved_log(tmp_path)
    il = analyse(tmp_path, _il_config())["experiments"]["il"]
    assert il["credit"] == "gmv" and il["credit_test"] == "sign"
    gmv, clicks = il["by_credit"]["gmv"], il["by_credit"]["clicks"]
    # treatment earns 3 slots x 0.2 x 0.3 x 300 = 54 per request, control 3 x 0.4 x 0.3 x 50 = 18
    lo, hi = gmv["mean_difference_ci95"]
    assert lo < 36 < hi and gmv["winner_by_mean"] == "treatment"
    assert clicks["winner_by_sign_test"] == clicks["winner_by_mean"] == "control"
    assert abs(il["shared_card_share"] - 1 / 6) < 1e-12
    assert il["winner"] == "control" and il["tests_disagree"]  # requests won vs money earned
    from training.experiments.analysis_report import write_report

    report = write_report(analyse(tmp_path, _il_config()), tmp_path / "report").read_text()
    assert "disagree" in report and (tmp_path / "report" / "il_wins.png").is_file()
    by_mean = analyse(tmp_path, _il_config(credit_test="mean"))["experiments"]["il"]
    assert by_mean["winner"] == "treatment"
    by_clicks = analyse(tmp_path, _il_config(credit="clicks"))["experiments"]["il"]
    assert by_clicks["winner"] == "control" and not by_clicks["tests_disagree"]
    from training.experiments.analysis import load_tables

    tables, _ = load_tables(tmp_path)
    per = interleaving_credit(tables, "il", ["control", "treatment"])
    assert len(per) == 2000 and set(per.columns) == {"clicks", "orders", "gmv", "shared"}


def test_disagreeing_interleaving_tests_are_flagged():
    from training.experiments.analysis import credit_test

    # treatment wins 30% of requests by 100, control 60% by 10: more money, fewer wins
    d = np.r_[np.full(300, 100.0), np.full(600, -10.0), np.zeros(100)]
    got = credit_test(d, ("control", "treatment"))
    assert got["winner_by_sign_test"] == "control" and got["winner_by_mean"] == "treatment"
