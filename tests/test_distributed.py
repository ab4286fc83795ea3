"""Dask on a local two-worker cluster: features built per snapshot cut on the workers are
exactly the local frame, and distributed LambdaRank matches single-machine quality."""

from __future__ import annotations

import numpy as np
import pytest

from training.distributed import partition_bounds

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

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def local(small_mall):
    """(settings, mall, search recall, the single-machine frame) of the small mall."""
    from ranking.settings import load_settings
    from training.dataset import build_ranking_frame
    from training.mall_data import load_mall
    from training.train import build_search_recall

    settings = load_settings()
    mall = load_mall(small_mall)
    search = build_search_recall(mall, settings)
    return settings, mall, search, build_ranking_frame(mall, settings, progress=False, search=search)


def test_frame_built_on_the_cluster_is_the_local_frame(small_mall, client, local):
    from training.dataset import build_ranking_frame
    from training.distributed_features import build_ranking_frame_on_dask, frames_equal

    settings, mall, search, frame = local
    on_dask = build_ranking_frame_on_dask(small_mall, settings, client, progress=False, search=search)
    assert len(on_dask) == len(frame) > 100_000
    assert frames_equal(on_dask, frame) == []  # features, grades, request ids, order: bit for bit
    assert np.isfinite(on_dask.features).any(axis=0).all()

    sampled = settings.model_copy(deep=True)
    sampled.training.request_sample = 0.3
    part = build_ranking_frame_on_dask(small_mall, sampled, client, progress=False, days=(8, 16))
    assert frames_equal(part, build_ranking_frame(mall, sampled, progress=False, days=(8, 16))) == []


@pytest.fixture(scope="module")
def single(local):
    """Single-machine LambdaRank (ROUNDS trees, one thread) and its test-days NDCG@10."""
    from training.lambdarank import train_lambdarank
    from training.train import lightgbm_params, ranking_data, split_days

    settings, _, _, frame = local
    split = split_days(int(frame.day.max()) + 1, settings)
    train = ranking_data(frame.select((frame.day >= split.train[0]) & (frame.day < split.train[1])), False)
    params = {**lightgbm_params(settings), "num_threads": 1}
    booster = train_lambdarank(train, None, params, ROUNDS, None, position_debias=False, progress=False)
    return train, params, test_ndcg(booster, frame, split)


def test_ndcg(booster, frame, split) -> float:
    from training.metrics import ndcg_at_k

    test = frame.select(frame.day >= split.test[0])
    return float(np.nanmean(ndcg_at_k(test.request_id, test.grade.astype(float),
                                      booster.predict(test.features), 10)))


test_ndcg.__test__ = False  # a helper, not a test


def test_dask_ranker_matches_single_machine_ndcg(client, local, single):
    from training.distributed import train_on_dask
    from training.train import split_days

    _, _, _, frame = local
    train, params, single_ndcg = single
    distributed = train_on_dask(train, params, ROUNDS, client)
    assert distributed.num_trees() == ROUNDS
    distributed_ndcg = test_ndcg(distributed, frame, split_days(int(frame.day.max()) + 1, local[0]))
    assert distributed_ndcg == pytest.approx(single_ndcg, abs=0.02), (single_ndcg, distributed_ndcg)


def test_train_bundle_on_dask_matches_single_machine(small_mall, client, local, single, tmp_path):
    """End to end: features and trees on the cluster; the bundle's model within 0.02 NDCG@10."""
    import lightgbm as lgb

    from training.train import split_days, train_bundle

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
    from training import distributed_features
    from training.distributed_features import DaskClusterError, check_workers_see

    monkeypatch.setattr(distributed_features, "CONNECT_TIMEOUT_S", 2)
    result = CliRunner().invoke(app, ["train", "--data", str(small_mall), "--out", str(tmp_path),
                                      "--dask-scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in result.output
    assert "Traceback" not in result.output

    check_workers_see(client, small_mall)
    with pytest.raises(DaskClusterError, match=r"2 of 2 Dask workers .* cannot see the mall's Parquet"):
        check_workers_see(client, tmp_path / "not-shared")
