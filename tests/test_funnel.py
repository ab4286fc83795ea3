"""The purchase-funnel ranker: merged models score exactly as their sum, and it ranks better."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from training.learning.funnel import _negative_sample, examination_offset, merge_models

NAMES = [f"f{i}" for i in range(5)]


def _two_boosters() -> tuple[lgb.Booster, lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((3000, 5))
    click = (rng.random(3000) < 0.1 + 0.5 * x[:, 0]).astype(float)
    order = (rng.random(3000) < 0.3 * x[:, 1]).astype(float)
    params = {"objective": "binary", "verbosity": -1, "num_leaves": 8, "seed": 1}
    a = lgb.train(params, lgb.Dataset(x, click, feature_name=NAMES), 20)
    b = lgb.train(params, lgb.Dataset(2 * x, order, feature_name=NAMES), 15)  # other value ranges
    return a, b, x


def test_merged_model_scores_the_sum_of_raw_scores_in_lightgbm_and_compiled(tmp_path: Path) -> None:
    a, b, x = _two_boosters()
    text = merge_models([a.model_to_string(), b.model_to_string()])
    merged = lgb.Booster(model_str=text)
    want = a.predict(x, raw_score=True) + b.predict(x, raw_score=True)
    assert merged.num_trees() == a.num_trees() + b.num_trees()
    np.testing.assert_allclose(merged.predict(x), want, atol=1e-12)
    contributions = merged.predict(x, pred_contrib=True)
    np.testing.assert_allclose(contributions.sum(axis=1), want, atol=1e-12)
    pytest.importorskip("lleaves")
    from ranking.model import RankingModel, compile_model

    (tmp_path / "model.txt").write_text(text)
    _, compiled = compile_model(tmp_path / "model.txt", tmp_path)
    model = RankingModel.load(tmp_path / "model.txt", compiled)
    assert model.scorer == "lleaves"
    np.testing.assert_allclose(model.score(x), want, atol=1e-12)


def test_merge_refuses_models_over_different_features() -> None:
    a, _, x = _two_boosters()
    other = lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 4},
                      lgb.Dataset(x[:, :4], (x[:, 0] > 0.5).astype(float)), 3)
    with pytest.raises(ValueError, match="same features"):
        merge_models([a.model_to_string(), other.model_to_string()])
    with pytest.raises(ValueError, match="at least one"):
        merge_models([])
    with pytest.raises(ValueError, match="not a LightGBM text model"):
        merge_models(["tree\nversion=v4\n"])


def test_negative_sampling_keeps_every_click_and_the_expected_count_of_the_rest() -> None:
    grade = np.zeros(200_000, dtype=np.int8)
    grade[::50] = 1
    grade[::500] = 3
    keep, weight = _negative_sample(grade, 0.3, seed=3)
    assert keep[grade >= 1].all()
    assert weight[grade[keep] >= 1].tolist() == [1.0] * int((grade >= 1).sum())
    # the re-weighted unclicked rows stand for all of them (within 1%)
    assert weight[grade[keep] == 0].sum() == pytest.approx((grade == 0).sum(), rel=0.01)
    keep_all, weight_all = _negative_sample(grade, 1.0, seed=3)
    assert keep_all.all() and (weight_all == 1).all()


def test_examination_offset_is_the_log_of_each_cards_surface_curve() -> None:
    from training.learning.dataset import RankingFrame

    curve = pd.DataFrame({"surface": ["search"] * 3 + ["homepage"] * 3,
                          "position": [1, 2, 3] * 2,
                          "examination": [1.0, 0.6, 0.4, 1.0, 0.8, 0.7]})
    n = 4
    frame = RankingFrame(
        features=np.zeros((n, 1), np.float32), grade=np.zeros(n, np.int8),
        request_id=np.array([1, 1, 2, 2]), product_id=np.arange(n), user_id=np.zeros(n),
        query_id=np.zeros(n), hour=np.zeros(n), surface=np.array([0, 0, 1, 1]),
        position=np.array([1, 3, 2, 3]), propensity=np.ones(n), day=np.zeros(n))
    np.testing.assert_allclose(examination_offset(frame, curve), np.log([1.0, 0.4, 0.8, 0.7]))
    assert (examination_offset(frame, None) == 0).all()


def test_the_funnel_ranks_closer_to_the_oracle_than_lambdarank_on_the_small_mall(small_mall: Path) -> None:
    """The reason it is the default: same cards, same days, scored against the simulator's truth."""
    from ranking.settings import load_settings
    from training.data.mall_data import load_mall
    from training.evaluation.evaluate import _oracle_gain
    from training.evaluation.metrics import mean_ndcg_at_k
    from training.learning.dataset import build_ranking_frame
    from training.learning.day_split import split_days
    from training.learning.fit import train_model

    settings = load_settings(["training.num_boost_round=60", "training.early_stopping_rounds=15",
                              "training.funnel.num_boost_round=120", "training.compile_scorer=false",
                              "training.live_features=false"])  # the two objectives, not the replay
    frame = build_ranking_frame(load_mall(small_mall), settings, progress=False)
    split = split_days(int(frame.day.max()) + 1, settings)
    test = frame.select(frame.day >= split.test[0])
    oracle = _oracle_gain(small_mall, test)

    ndcg_of = {}
    for model in ("funnel", "lambdarank"):
        settings.training.model = model
        trained = train_model(frame, split, settings, progress=False)
        ndcg_of[model] = mean_ndcg_at_k(test.request_id, oracle, trained.booster.predict(test.features), 10)
        assert trained.facts["model"] == model
        assert set(trained.facts["valid_ndcg"]) == {"ndcg@5", "ndcg@10", "ndcg@20"}
    logging_policy = mean_ndcg_at_k(test.request_id, oracle, -test.position.astype(np.float64), 10)
    # measured: funnel 0.87, LambdaRank 0.78, logging policy 0.68
    assert ndcg_of["funnel"] > ndcg_of["lambdarank"] + 0.03, ndcg_of
    assert ndcg_of["funnel"] > logging_policy + 0.1, (ndcg_of, logging_policy)


def _synthetic_frame(propensity: float, n_requests: int = 40, slots: int = 10):
    """Cards of ``n_requests`` homepage requests with clicks and orders, one propensity for all."""
    from training.learning.dataset import RankingFrame

    n = n_requests * slots
    rng = np.random.default_rng(0)
    grade = np.zeros(n, np.int8)
    grade[::7] = 1
    grade[::21] = 3
    return RankingFrame(
        features=rng.random((n, 2)).astype(np.float32), grade=grade,
        request_id=np.repeat(np.arange(n_requests), slots), product_id=np.arange(n),
        user_id=np.zeros(n), query_id=np.full(n, -1), hour=np.zeros(n, np.int8),
        surface=np.ones(n, np.int8), position=np.tile(np.arange(1, slots + 1), n_requests),
        propensity=np.full(n, propensity), day=np.zeros(n, np.int32), feature_names=["a", "b"])


def test_a_log_that_cannot_identify_position_bias_is_a_named_data_error() -> None:
    """It used to be a bare ValueError from the estimator, a traceback out of ``shelfrank train``."""
    from ranking.settings import load_settings
    from training.learning.dataset import TrainingDataError
    from training.learning.funnel import train_funnel

    settings = load_settings(["training.funnel.num_boost_round=3"])
    frame = _synthetic_frame(propensity=1.0)  # nothing randomised
    with pytest.raises(TrainingDataError, match=r"position_debias.*--no-position-debias"):
        train_funnel(frame, frame, settings, position_debias=True, progress=False)
    # a surface whose randomised slots drew no click at slot 1 has no curve
    curve = pd.DataFrame({"surface": ["homepage"] * 10, "position": np.arange(1, 11),
                          "examination": np.nan})
    with pytest.raises(TrainingDataError, match="homepage"):
        examination_offset(frame, curve)
    assert train_funnel(frame, frame, settings, position_debias=False, progress=False).booster.num_trees()


def test_a_log_without_orders_says_the_funnel_cannot_learn_and_what_can() -> None:
    from ranking.settings import load_settings
    from training.learning.dataset import TrainingDataError
    from training.learning.funnel import train_funnel

    frame = _synthetic_frame(propensity=1.0)
    frame.grade[frame.grade == 3] = 1
    with pytest.raises(TrainingDataError, match=r"orders.*training\.model=lambdarank"):
        train_funnel(frame, frame, load_settings([]), position_debias=False, progress=False)


def test_lambdarank_on_a_log_without_clicks_names_the_clicks_and_the_setting() -> None:
    """It used to stop on a bare ``ValueError: no training rows`` traceback."""
    from ranking.settings import load_settings
    from training.learning.dataset import TrainingDataError
    from training.learning.day_split import DaySplit
    from training.learning.fit import train_model

    frame = _synthetic_frame(propensity=1.0, n_requests=60)
    frame.grade[:] = 0
    frame.day = (frame.request_id % 30).astype(np.int32)
    settings = load_settings(["training.model=lambdarank", "training.num_boost_round=3"])
    with pytest.raises(TrainingDataError, match=r"clicks: .*training\.keep_requests_without_clicks"):
        train_model(frame, DaySplit((7, 16), (16, 23), (23, 30)), settings, progress=False)
