"""Whole-page doubly-robust counterfactual: known-truth synthetic logs, then the small mall."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.experiments.page_replay import Pages, logged_pages
from training.experiments.reward_model import RewardModel
from training.experiments.whole_page import whole_page_estimate
from training.learning.dataset import RankingFrame
from training.stats import paired_lift

SLOTS = 5
EXAM = 1 / np.arange(1, SLOTS + 1) ** 0.7


class _Constant:
    """A deliberately wrong reward model: the same probability for every card."""

    def __init__(self, p: float) -> None:
        self.p = p

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.p)


class _Truth:
    """The right reward model: P(click | examined) from the card's feature."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _quality(x[:, 0])


def _quality(f: np.ndarray) -> np.ndarray:
    return 0.05 + 0.5 * f


def _reward(click) -> RewardModel:
    return RewardModel(["f"], click, _Constant(0.0), EXAM.copy(), 1.0)


def _logs(n: int, seed: int) -> tuple[RankingFrame, pd.DataFrame, float]:
    """Each context shows 5 products in a uniformly random order (propensity 1/5 for every
    product in every slot); a card is clicked with EXAM[slot] x quality(feature). Returns
    the logs, the contexts and the true clicks per page of the policy sorting by quality."""
    rng = np.random.default_rng(seed)
    f = rng.random((n, SLOTS))
    order = np.argsort(rng.random((n, SLOTS)), axis=1)  # logged slot j shows candidate order[j]
    shown = np.take_along_axis(f, order, axis=1)
    clicked = rng.random((n, SLOTS)) < EXAM * _quality(shown)
    req = np.repeat(np.arange(n), SLOTS)
    frame = RankingFrame(
        features=shown.reshape(-1, 1).astype(np.float32),
        grade=clicked.reshape(-1).astype(np.int8),
        request_id=req.astype(np.int64),
        product_id=(req * 10 + order.reshape(-1)).astype(np.int64),
        user_id=req.astype(np.int64),
        query_id=np.full(len(req), -1),
        hour=np.zeros(len(req), np.int8),
        surface=np.ones(len(req), np.int8),
        position=np.tile(np.arange(1, SLOTS + 1), n).astype(np.int16),
        propensity=np.full(len(req), 1 / SLOTS),
        day=np.zeros(len(req), np.int16),
        feature_names=["f"],
    )
    contexts = pd.DataFrame({"request_id": np.arange(n), "user_id": np.arange(n), "hour": 0, "weight": 1.0})
    best = -np.sort(-f, axis=1)
    truth = float((EXAM * _quality(best)).sum(axis=1).mean())
    return frame, contexts, truth


def _sorted_pages(n: int, frame: RankingFrame) -> Pages:
    """The target policy: the same five candidates, best feature first."""
    f = frame.features[:, 0].reshape(n, SLOTS)
    pid = frame.product_id.reshape(n, SLOTS)
    order = np.argsort(-f, axis=1, kind="stable")
    return Pages(context=np.repeat(np.arange(n), SLOTS), position=np.tile(np.arange(1, SLOTS + 1), n),
                 product_id=np.take_along_axis(pid, order, axis=1).reshape(-1), price=np.ones(n * SLOTS),
                 features=np.take_along_axis(f, order, axis=1).reshape(-1, 1))


def test_dr_recovers_a_better_policys_value_even_with_a_wrong_reward_model():
    n = 6000
    frame, contexts, truth = _logs(n, seed=3)
    pages = _sorted_pages(n, frame)
    logged_value = float((frame.grade >= 1).sum() / n)
    wrong = whole_page_estimate(pages, contexts, frame, None, np.ones(len(frame)), _reward(_Constant(0.2)))
    clicks = wrong["rewards"]["clicks"]
    assert abs(clicks["dr"] - truth) < 0.05 * truth  # the correction repairs the model
    assert abs(clicks["direct"] - truth) > 0.15 * truth  # the model alone is far off
    assert clicks["dr_ci95"][0] < truth < clicks["dr_ci95"][1]
    assert truth > 1.1 * logged_value  # the sorted page is really better than the logged one
    # every card of every page was logged with positive propensity somewhere
    assert wrong["supported_cards"] > 0.15 * len(pages.product_id)
    right = whole_page_estimate(pages, contexts, frame, None, np.ones(len(frame)), _reward(_Truth()))
    assert abs(right["rewards"]["clicks"]["direct"] - truth) < 0.01 * truth
    # with the right model the correction only adds noise around zero, inside the interval
    lo, hi = right["rewards"]["clicks"]["dr_ci95"]
    assert abs(right["rewards"]["clicks"]["correction"]) < (hi - lo) / 2


def test_dr_of_the_logging_policys_own_pages_is_its_logged_value():
    n = 2000
    frame, contexts, _ = _logs(n, seed=4)
    price = np.linspace(1, 50, len(frame))
    logged_value = float((frame.grade >= 1).sum() / n)
    est = whole_page_estimate(logged_pages(frame, contexts, price, ["f"]), contexts, frame, None, price,
                              _reward(_Constant(0.1)))
    assert est["supported_share"] == 1.0
    assert est["rewards"]["clicks"]["dr"] == pytest.approx(logged_value, rel=1e-9)
    assert est["rewards"]["clicks"]["direct"] != pytest.approx(logged_value, rel=0.05)
    assert est["per_context"]["clicks"].shape == (n,)


def test_a_policy_identical_to_another_has_zero_lift_and_the_output_has_its_shape():
    n = 500
    frame, contexts, _ = _logs(n, seed=5)
    pages = _sorted_pages(n, frame)
    a = whole_page_estimate(pages, contexts, frame, None, np.ones(len(frame)), _reward(_Truth()))
    b = whole_page_estimate(pages, contexts, frame, None, np.ones(len(frame)), _reward(_Truth()))
    lift = paired_lift(a["per_context"]["clicks"], b["per_context"]["clicks"], contexts.weight.to_numpy())
    assert lift["lift"] == 0 and lift["ci95"] == [0, 0]
    assert set(a) >= {"contexts", "cards", "supported_cards", "supported_share", "rewards", "per_context"}
    assert set(a["rewards"]) == {"clicks", "orders", "order_value", "gmv"}
    for r in a["rewards"].values():
        assert set(r) == {"direct", "direct_ci95", "dr", "dr_ci95", "correction"}
        assert r["dr_ci95"][0] <= r["dr"] <= r["dr_ci95"][1]


def test_evaluate_counterfactual_reports_whole_page_and_randomised_block(small_mall, small_models, tmp_path):
    import json

    from typer.testing import CliRunner

    from shelfrank.cli import app

    out = tmp_path / "eval.json"
    bundle = str(small_models / "latest")
    result = CliRunner().invoke(app, [
        "--set", "counterfactual.contexts=100", "--set", "counterfactual.reward.num_boost_round=20",
        "--set", "training.live_features=false",  # the estimators, not the replay
        "evaluate", bundle, "--data", str(small_mall), "--counterfactual", "--counterfactual-control", bundle,
        "--no-progress", "--report", str(tmp_path / "report"), "--json", str(out)])
    assert result.exit_code == 0, result.output
    cf = json.loads(out.read_text())["counterfactual"]
    assert {"ips", "snips"} <= set(cf["homepage"]["rewards"]["gmv"])  # the randomised-block estimate
    wp = cf["whole_page"]
    assert "whole-page doubly robust" in result.output
    assert wp["contexts"] == 100
    # the same bundle twice: the same pages, zero lift
    for r in wp["comparison"]["rewards"].values():
        assert r["treatment"] == r["control"] and r["lift"] == 0
    model = wp["model"]
    assert model["cards"] == 100 * 20
    for name in ("clicks", "orders", "order_value", "gmv"):
        r = model["rewards"][name]
        assert np.isfinite(r["dr"]) and r["dr"] >= 0 and r["direct"] >= 0
        assert set(model["lift_over_logging_policy"][name]) == {"lift", "ci95"}
    assert {"ips", "snips", "dr"} <= set(model["randomised_block"]["rewards"]["gmv"])
    # the logging policy's own pages: their logged value, and the reward model's prediction of it
    lp = wp["logging_policy"]["clicks"]
    assert lp["value"] > 0 and np.isfinite(lp["calibration"])
    assert wp["reward_model"]["examination"][0] == 1.0
