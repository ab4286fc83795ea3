"""The LambdaRank wrapper (training.learning.lambdarank) trains exactly what plain LightGBM trains,
and our NDCG (training.evaluation.metrics) is LightGBM's own ndcg@10 on its lambdarank example."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from training.evaluation.metrics import ndcg_at_k
from training.learning.lambdarank import RankingData, predict, train_lambdarank

PARAMS = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "num_leaves": 7,
    "learning_rate": 0.05,
    "min_data_in_leaf": 50,
    "seed": 7,
    "deterministic": True,
    "num_threads": 1,
    "verbosity": -1,
}
ROUNDS, PATIENCE = 300, 20  # stops at round ~79 of LightGBM's example


def load_example(folder, name: str) -> RankingData:
    from sklearn.datasets import load_svmlight_file

    x, y = load_svmlight_file(str(folder / name), n_features=300)
    group = np.loadtxt(folder / f"{name}.query", dtype=np.int64)
    return RankingData(x.toarray().astype(np.float32), y.astype(np.int32), group)


@pytest.fixture(scope="module")
def example(shared_datasets):
    folder = shared_datasets / "lightgbm_lambdarank"
    return load_example(folder, "rank.train"), load_example(folder, "rank.test")


def query_ids(data: RankingData) -> np.ndarray:
    return np.repeat(np.arange(len(data.group)), data.group)


def test_wrapper_gives_the_same_ndcg_as_plain_lightgbm_train_and_our_ndcg_is_lightgbms(example):
    train, test = example
    ours = train_lambdarank(train, test, PARAMS, num_boost_round=ROUNDS,
                            early_stopping_rounds=PATIENCE, position_debias=False, progress=False)

    train_set = lgb.Dataset(train.features, label=train.label, group=train.group)
    test_set = lgb.Dataset(test.features, label=test.label, group=test.group, reference=train_set)
    plain = lgb.train(PARAMS, train_set, num_boost_round=ROUNDS, valid_sets=[test_set],
                      valid_names=["valid"],
                      callbacks=[lgb.early_stopping(PATIENCE, first_metric_only=True, verbose=False)])

    assert ours.best_iteration == plain.best_iteration
    assert 20 < ours.best_iteration < ROUNDS - PATIENCE  # early stopping really decided
    qid = query_ids(test)
    ours_scores = predict(ours, test.features)
    plain_scores = plain.predict(test.features, num_iteration=plain.best_iteration)
    ours_ndcg = ndcg_at_k(qid, test.label, ours_scores, 10, exponential=True)
    plain_ndcg = ndcg_at_k(qid, test.label, plain_scores, 10, exponential=True)
    # LightGBM scores a query without any relevant document as NDCG 1
    ours_mean = float(np.nan_to_num(ours_ndcg, nan=1.0).mean())
    plain_mean = float(np.nan_to_num(plain_ndcg, nan=1.0).mean())
    assert ours_mean == pytest.approx(plain_mean, abs=1e-9)
    assert ours_mean == pytest.approx(plain.best_score["valid"]["ndcg@10"], abs=1e-6)
    assert ours.best_score["valid"]["ndcg@10"] == pytest.approx(plain.best_score["valid"]["ndcg@10"],
                                                                abs=1e-12)


def test_position_debias_trains_with_positions_and_changes_the_model(example):
    train, test = example
    rng = np.random.default_rng(0)
    # positions correlated with the label, as a biased log would have them
    slot = np.clip(4 - train.label + rng.integers(0, 3, size=len(train)), 0, 9).astype(np.int32)
    biased = RankingData(train.features, train.label, train.group, position=slot)
    params = {**PARAMS, "eval_at": [5, 10]}
    plain = train_lambdarank(biased, test, params, 20, None, position_debias=False, progress=False)
    debiased = train_lambdarank(biased, test, params, 20, None, position_debias=True, progress=False)
    assert plain.num_trees() == debiased.num_trees() == 20  # no early stopping asked
    assert not np.allclose(predict(plain, test.features), predict(debiased, test.features))
    with pytest.raises(ValueError, match="position"):
        train_lambdarank(train, test, params, 5, None, position_debias=True, progress=False)


def test_ranking_data_refuses_inconsistent_arrays():
    x = np.zeros((5, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="sum to 4"):
        RankingData(x, np.zeros(5, int), np.array([2, 2]))
    with pytest.raises(ValueError, match="integer grades"):
        RankingData(x, np.full(5, 0.5), np.array([5]))
    with pytest.raises(ValueError, match="0-based"):
        RankingData(x, np.zeros(5, int), np.array([5]), position=np.array([0, 1, 2, 3, -1]))
    with pytest.raises(ValueError, match="feature names"):
        RankingData(x, np.zeros(5, int), np.array([5]), feature_names=["only_one"])


def test_early_stopping_without_validation_is_refused():
    data = RankingData(np.random.default_rng(0).random((40, 3)), np.arange(40) % 3, np.full(4, 10))
    with pytest.raises(ValueError, match="validation"):
        train_lambdarank(data, None, {}, 10, 5, position_debias=False, progress=False)
