"""Distributed LambdaRank on a local two-worker Dask cluster matches single-machine quality."""

from __future__ import annotations

import numpy as np
import pytest

from training.distributed import partition_bounds

pytestmark = pytest.mark.slow


def test_partitions_never_split_a_request():
    group = np.array([3, 5, 2, 7, 1, 4, 6, 2])
    rows, groups = partition_bounds(group, 3)
    assert rows.sum() == group.sum() and groups.sum() == len(group)
    ends = np.cumsum(groups)
    assert list(rows) == [int(group[lo:hi].sum()) for lo, hi in zip(np.r_[0, ends[:-1]], ends,
                                                                     strict=True)]
    assert len(rows) == 3


def test_dask_ranker_matches_single_machine_ndcg(small_mall):
    from distributed import Client, LocalCluster

    from ranking.settings import load_settings
    from training.dataset import build_ranking_frame
    from training.distributed import train_on_dask
    from training.lambdarank import train_lambdarank
    from training.mall_data import load_mall
    from training.metrics import ndcg_at_k
    from training.train import lightgbm_params, ranking_data, split_days

    settings = load_settings()
    frame = build_ranking_frame(load_mall(small_mall), settings, progress=False)
    split = split_days(int(frame.day.max()) + 1, settings)
    train = ranking_data(frame.select((frame.day >= split.train[0]) & (frame.day < split.train[1])), False)
    test = frame.select(frame.day >= split.test[0])
    params = {**lightgbm_params(settings), "num_threads": 1}
    rounds = 40
    single = train_lambdarank(train, None, params, rounds, None, position_debias=False, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        distributed = train_on_dask(train, params, rounds, client)
    assert distributed.num_trees() == rounds

    def ndcg(booster) -> float:
        return float(np.nanmean(ndcg_at_k(test.request_id, test.grade.astype(float),
                                          booster.predict(test.features), 10)))

    single_ndcg, distributed_ndcg = ndcg(single), ndcg(distributed)
    assert distributed_ndcg == pytest.approx(single_ndcg, abs=0.02), (single_ndcg, distributed_ndcg)
