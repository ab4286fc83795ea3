"""Dask on a local two-worker cluster: features built per snapshot cut on the workers are
exactly the local frame, and distributed LambdaRank matches single-machine quality."""

from __future__ import annotations

import numpy as np
import pytest

from training.dask.lambdarank import partition_bounds

pytestmark = pytest.mark.slow
ROUNDS = 40


def test_partitions_never_split_a_request():
    group = np.array([3, 5, 2, 7, 1, 4, 6, 2])
    rows, groups = partition_bounds(group, 3)
    assert rows.sum() == group.sum() and groups.sum() == len(group)
    ends = np.cumsum(groups)
    assert list(rows) == [int(group[lo:hi].sum()) for lo, hi in zip(np.r_[0, ends[:-1]], ends,
                                                                     strict=True)]
    assert len(rows) == 3


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    # ":0": the scheduler's HTTP server on a free port. None still binds 8787, which the
    # other test worker's cluster may hold (a "port in use" warning and a leaked socket).
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def local(small_mall):
    """(settings, mall, search recall, the single-machine frame) of the small mall, without the
    live replay (each Dask part replays the log from its start: the frame test below checks
    it on a sample; the others are about where the cards go and what the trees learn)."""
    from ranking.settings import load_settings
    from training.data.mall_data import load_mall
    from training.learning.dataset import build_ranking_frame
    from training.learning.train import build_search_recall

    settings = load_settings(["training.live_features=false"])
    mall = load_mall(small_mall)
    search = build_search_recall(mall, settings)
    return settings, mall, search, build_ranking_frame(mall, settings, progress=False, search=search)


def test_frame_built_on_the_cluster_is_the_local_frame(small_mall, client, local):
    from ranking.live.features import LIVE_COLUMNS
    from training.dask.features import build_ranking_frame_on_dask, frames_equal
    from training.learning.dataset import build_ranking_frame

    settings, mall, search, frame = local
    on_dask = build_ranking_frame_on_dask(small_mall, settings, client, progress=False, search=search)
    assert len(on_dask) == len(frame) > 100_000
    assert frames_equal(on_dask, frame) == []  # features, grades, request ids, order: bit for bit

    sampled = settings.model_copy(deep=True)
    sampled.training.request_sample = 0.3
    sampled.training.live_features = True  # the parts replay the log to their own requests
    part = build_ranking_frame_on_dask(small_mall, sampled, client, progress=False, days=(8, 16))
    assert frames_equal(part, build_ranking_frame(mall, sampled, progress=False, days=(8, 16))) == []
    live = [part.feature_names.index(c) for c in LIVE_COLUMNS]
    assert np.isfinite(part.features[:, live]).any(axis=0).all()  # the replay gave every live feature values


@pytest.fixture(scope="module")
def single(local):
    """Single-machine LambdaRank (ROUNDS trees, one thread) and its test-days NDCG@10."""
    from training.learning.day_split import ranking_data, split_days
    from training.learning.fit import lightgbm_params
    from training.learning.lambdarank import train_lambdarank

    settings, _, _, frame = local
    split = split_days(int(frame.day.max()) + 1, settings)
    train = ranking_data(frame.select((frame.day >= split.train[0]) & (frame.day < split.train[1])), False)
    params = {**lightgbm_params(settings), "num_threads": 1}
    booster = train_lambdarank(train, None, params, ROUNDS, None, position_debias=False, progress=False)
    return train, params, test_ndcg(booster, frame, split)


def test_ndcg(booster, frame, split) -> float:
    from training.evaluation.metrics import ndcg_at_k

    test = frame.select(frame.day >= split.test[0])
    return float(np.nanmean(ndcg_at_k(test.request_id, test.grade.astype(float),
                                      booster.predict(test.features), 10)))


test_ndcg.__test__ = False  # a helper, not a test


def test_dask_ranker_matches_single_machine_ndcg(client, local, single):
    from training.dask.lambdarank import train_on_dask
    from training.learning.day_split import split_days

    _, _, _, frame = local
    train, params, single_ndcg = single
    distributed = train_on_dask(train, params, ROUNDS, client)
    assert distributed.num_trees() == ROUNDS
    distributed_ndcg = test_ndcg(distributed, frame, split_days(int(frame.day.max()) + 1, local[0]))
    assert distributed_ndcg == pytest.approx(single_ndcg, abs=0.02), (single_ndcg, distributed_ndcg)


def _cards_in(value) -> int:
    """Cards (rows of frames, LightGBM arrays or feature matrices) inside a gathered result."""
    from training.learning.dataset import RankingFrame
    from training.learning.lambdarank import RankingData

    if isinstance(value, RankingFrame | RankingData):
        return len(value)
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return len(value)
    if isinstance(value, list | tuple):
        return sum(_cards_in(v) for v in value)
    if isinstance(value, dict):
        return sum(_cards_in(v) for v in value.values())
    return 0


@pytest.fixture(scope="module")
def held(small_mall, client, local):
    """Training on the cluster with the cards kept on the workers, and the cards that reached
    the driver (every ``Client._gather``, which ``Future.result`` and ``Client.gather`` use)."""
    from distributed import Client

    from training.dask import features as distributed_features
    from training.dask import lambdarank as distributed
    from training.dask.parts import train_on_cluster

    settings, _, search, _ = local
    on_dask = settings.model_copy(deep=True)
    on_dask.training.num_boost_round = ROUNDS
    arrived = []
    gather = Client._gather

    async def counting(self, futures, *args, **kwargs):
        out = await gather(self, futures, *args, **kwargs)
        arrived.append(_cards_in(out))
        return out

    def gathering(*args, **kwargs):
        raise AssertionError("the training cards were gathered on the driver")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Client, "_gather", counting)
        patch.setattr(distributed_features, "build_ranking_frame_on_dask", gathering)
        patch.setattr(distributed, "train_on_dask", gathering)
        trained = train_on_cluster(small_mall, on_dask, client, search=search, progress=False)
    return trained, sum(arrived)


def test_training_cards_never_reach_the_driver(local, held):
    _, _, _, frame = local
    trained, arrived = held
    split = trained.split
    valid_days = frame.select((frame.day >= split.valid[0]) & (frame.day < split.valid[1]))
    train_days = frame.select((frame.day >= split.train[0]) & (frame.day < split.train[1]))
    assert len(train_days) > len(valid_days) > 0
    assert arrived == len(valid_days), (arrived, len(valid_days))  # the validation days, no more


def test_held_parts_give_the_gathered_frames_split_counts_and_model(client, local, single, held):
    """Same split, counts and validation set as the gathered frame; the model within a tiny
    NDCG of the gathered frame's DaskLGBMRanker and within 0.02 of single-machine."""
    from training.dask.lambdarank import train_on_dask
    from training.learning.day_split import ranking_data, split_days, validation_frame

    settings, _, _, frame = local
    trained, _ = held
    split = split_days(int(frame.day.max()) + 1, settings)
    assert trained.split == split and trained.days == int(frame.day.max()) + 1
    assert trained.cards == len(frame)
    assert trained.label_counts == {str(g): int((frame.grade == g).sum()) for g in range(4)}
    train, params, single_ndcg = single
    assert (trained.model.train_rows, trained.model.train_requests) == (len(train), len(train.group))
    valid = ranking_data(validation_frame(frame, split, settings), False)
    assert np.array_equal(trained.model.valid.features, valid.features, equal_nan=True)
    assert np.array_equal(trained.model.valid.label, valid.label)
    assert np.array_equal(trained.model.valid.group, valid.group)

    booster = trained.model.booster
    assert booster.num_trees() == ROUNDS
    gathered = train_on_dask(train, params, ROUNDS, client)
    held_ndcg, gathered_ndcg = test_ndcg(booster, frame, split), test_ndcg(gathered, frame, split)
    assert held_ndcg == pytest.approx(gathered_ndcg, abs=0.005), (held_ndcg, gathered_ndcg)
    assert held_ndcg == pytest.approx(single_ndcg, abs=0.02), (held_ndcg, single_ndcg)


def test_relabel_runs_on_each_part_as_on_the_gathered_frame(small_mall, client, local):
    """The logging-policy clone's hook, run per part on the workers: the same grades, counts,
    train rows and validation set as relabelling the whole frame."""
    from training.dask.parts import train_on_cluster
    from training.experiments.logging_policy import position_grades
    from training.learning.day_split import ranking_data, validation_frame

    settings, _, search, frame = local
    cloned = settings.model_copy(deep=True)
    cloned.training.num_boost_round = 3
    cloned.training.validate_on_randomised = False
    trained = train_on_cluster(small_mall, cloned, client, search=search, relabel=position_grades,
                               progress=False)
    relabelled = frame.select(np.arange(len(frame)))
    relabelled.grade = position_grades(frame)
    assert not np.array_equal(relabelled.grade, frame.grade)
    assert trained.label_counts == {str(g): int((relabelled.grade == g).sum()) for g in range(4)}
    split = trained.split
    train = ranking_data(relabelled.select((relabelled.day >= split.train[0])
                                           & (relabelled.day < split.train[1])), False)
    assert (trained.model.train_rows, trained.model.train_requests) == (len(train), len(train.group))
    valid = ranking_data(validation_frame(relabelled, split, cloned), False)
    assert np.array_equal(trained.model.valid.label, valid.label)
    assert np.array_equal(trained.model.valid.features, valid.features, equal_nan=True)


def test_train_bundle_on_dask_matches_single_machine(small_mall, client, local, single, tmp_path):
    """End to end: features and trees on the cluster; the bundle's model within 0.02 NDCG@10."""
    import lightgbm as lgb

    from training.learning.day_split import split_days
    from training.learning.train import train_bundle

    settings, _, _, frame = local
    on_dask = settings.model_copy(deep=True)
    on_dask.training.dask_scheduler = client.scheduler.address
    on_dask.training.num_boost_round = ROUNDS
    on_dask.training.compile_scorer = False
    path, manifest = train_bundle(small_mall, tmp_path, on_dask, progress=False)
    t = manifest["training"]
    assert t["model"] == "lambdarank" and t["num_trees"] == ROUNDS and t["valid_ndcg"]["ndcg@10"] > 0
    assert manifest["data"]["label_counts"] == {str(g): int((frame.grade == g).sum()) for g in range(4)}
    booster = lgb.Booster(model_file=str(path / "model.txt"))
    bundle_ndcg = test_ndcg(booster, frame, split_days(int(frame.day.max()) + 1, settings))
    assert bundle_ndcg == pytest.approx(single[2], abs=0.02), (single[2], bundle_ndcg)


def test_clear_errors_for_an_unreachable_scheduler_and_unseen_data(client, small_mall, tmp_path,
                                                                  monkeypatch):
    from typer.testing import CliRunner

    from shelfrank.cli import app
    from training.dask import features as distributed_features
    from training.dask.features import DaskClusterError, check_workers_see

    monkeypatch.setattr(distributed_features, "CONNECT_TIMEOUT_S", 2)
    result = CliRunner().invoke(app, ["train", "--data", str(small_mall), "--out", str(tmp_path),
                                      "--dask-scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in result.output
    assert "Traceback" not in result.output

    check_workers_see(client, small_mall)
    with pytest.raises(DaskClusterError, match=r"2 of 2 Dask workers .* cannot see the mall's Parquet"):
        check_workers_see(client, tmp_path / "not-shared")
