"""Distributed LambdaRank on an existing Dask cluster (LightGBM's ``DaskLGBMRanker``).

LightGBM's Dask ranker needs every query group inside one chunk of its Dask arrays; each
worker trains on the chunks it holds and LightGBM's socket-based data-parallel learner
builds the trees. Two ways in, the same LambdaRank parameters as single-machine training:

* :func:`train_on_dask_parts`, what ``train_bundle`` uses: the train days already live on
  the workers, one :class:`RankingData` future per snapshot cut
  (:mod:`training.dask.parts`); each becomes one chunk (``dask.array.from_delayed``
  of the future), so the cards never pass through this process. A request lies in one
  day, so in one part, so in one chunk.
* :func:`train_on_dask`, for cards already in this process (a frame built locally, e.g.
  ``training.learning.fit.train_model`` in the debiasing study, and the tests' reference): cut
  into contiguous request-whole partitions and shipped to the cluster.

Differences from single-machine training, stated plainly: the Dask ranker has no
position-aware (``position``) Dataset field and no early stopping, so it trains
``num_boost_round`` trees on the position-unaware objective.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from training.learning.lambdarank import RankingData, lambdarank_params


def partition_bounds(group: np.ndarray, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows per partition, groups per partition): contiguous, never splitting a group."""
    ends = np.cumsum(group)
    total = int(ends[-1]) if len(ends) else 0
    partitions = max(1, min(partitions, len(group)))
    targets = total * np.arange(1, partitions) / partitions
    cut = np.unique(np.searchsorted(ends, targets, side="left") + 1)
    cut = cut[(cut > 0) & (cut < len(group))]
    group_bounds = np.concatenate([[0], cut, [len(group)]])
    groups_per = np.diff(group_bounds)
    row_bounds = np.concatenate([[0], ends[group_bounds[1:] - 1]])
    return np.diff(row_bounds), groups_per


def _fit(client, x, y, g, feature_names: list[str], params: dict[str, Any], num_boost_round: int):
    """``DaskLGBMRanker`` on Dask arrays whose chunks hold whole requests; a local Booster."""
    from lightgbm.dask import DaskLGBMRanker

    p = lambdarank_params(params)
    for key in ("metric", "eval_at", "num_threads", "deterministic"):
        p.pop(key, None)
    p["n_estimators"] = num_boost_round
    model = DaskLGBMRanker(client=client, **p)
    with warnings.catch_warnings():
        # The sklearn wrapper always passes its own n_jobs (None) and LightGBM's Dask training
        # then warns that it ignores it: each worker trains with its own thread count.
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        model.fit(x, y, group=g, feature_name=list(feature_names))
    return model.to_local().booster_


def _scattered(client, values: np.ndarray, lengths: np.ndarray):
    """A Dask array of ``values`` cut into chunks of ``lengths`` rows, each chunk sent straight
    to a worker (``client.scatter``). ``da.from_array`` would put the whole array into the
    task graph instead, so every byte would pass through the scheduler (Dask's "Sending
    large graph" warning)."""
    import dask.array as da

    ends = np.cumsum(lengths)
    chunks = [values[end - n:end] for n, end in zip(lengths, ends, strict=True)]
    futures = client.scatter(chunks)
    return da.concatenate([da.from_delayed(f, shape=c.shape, dtype=c.dtype)
                           for f, c in zip(futures, chunks, strict=True)])


def train_on_dask(train: RankingData, params: dict[str, Any], num_boost_round: int,
                  scheduler: Any, partitions: int | None = None):
    """Fit LambdaRank on a Dask cluster from cards held here (``scheduler``: address or
    Client): they are cut into request-whole partitions and shipped; a local Booster."""
    from training.dask.features import connect

    client = connect(scheduler)
    try:
        workers = len(client.scheduler_info()["workers"])
        rows_per, groups_per = partition_bounds(train.group, partitions or max(2, workers))
        x = _scattered(client, train.features, rows_per)
        y = _scattered(client, train.label, rows_per)
        g = _scattered(client, train.group, groups_per)
        return _fit(client, x, y, g, train.feature_names, params, num_boost_round)
    finally:
        if client is not scheduler:
            client.close()


def train_on_dask_parts(parts: list[tuple[Any, int, int]], n_features: int, feature_names: list[str],
                        params: dict[str, Any], num_boost_round: int, client):
    """Fit LambdaRank from train days held on the workers: ``parts`` are (future of a
    :class:`RankingData`, rows, requests), one chunk each, no part empty. Only futures and
    shapes pass through here; the cards stay where they are. A local Booster."""
    import dask.array as da

    def chunk(data, name: str, shape: tuple[int, ...], dtype) -> Any:
        part = client.submit(getattr, data, name, key=f"{data.key}-{name}")
        return da.from_delayed(part, shape=shape, dtype=dtype)

    x = da.concatenate([chunk(d, "features", (rows, n_features), np.float32) for d, rows, _ in parts])
    y = da.concatenate([chunk(d, "label", (rows,), np.int32) for d, rows, _ in parts])
    g = da.concatenate([chunk(d, "group", (groups,), np.int64) for d, _, groups in parts])
    return _fit(client, x, y, g, feature_names, params, num_boost_round)
