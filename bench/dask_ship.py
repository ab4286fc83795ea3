"""Shipping local cards to a Dask cluster: through the task graph or scattered to the workers.

``python -m bench.dask_ship`` builds a synthetic ranking set (1M rows x 40 float32 features,
160 MB, requests of 40 cards), starts a 2-worker ``LocalCluster`` and fits 20 LambdaRank trees
twice each way: with the arrays put into the graph (``da.from_array``, what ``train_on_dask``
did) and scattered request-whole chunks (``training.dask.lambdarank._scattered``, what it does).
It prints the wall time of each fit and the warnings Dask raised. docs/scaling.md quotes it.
"""

from __future__ import annotations

import time
import warnings

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from training.dask.lambdarank import _fit, _scattered, partition_bounds

REQUESTS, CARDS, FEATURES, TREES = 25_000, 40, 40, 20


def main() -> None:
    rng = np.random.default_rng(0)
    rows = REQUESTS * CARDS
    x = rng.random((rows, FEATURES), dtype=np.float32)
    y = rng.integers(0, 3, rows).astype(np.int32)
    group = np.full(REQUESTS, CARDS, np.int64)
    names = [f"f{i}" for i in range(FEATURES)]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        rows_per, groups_per = partition_bounds(group, 2)
        for how in ("graph", "scatter", "graph", "scatter"):
            started = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if how == "graph":
                    parts = (da.from_array(x, chunks=(tuple(rows_per), FEATURES)),
                             da.from_array(y, chunks=(tuple(rows_per),)),
                             da.from_array(group, chunks=(tuple(groups_per),)))
                else:
                    parts = (_scattered(client, x, rows_per), _scattered(client, y, rows_per),
                             _scattered(client, group, groups_per))
                _fit(client, *parts, names, {"learning_rate": 0.1, "num_leaves": 31}, TREES)
            said = [str(w.message).splitlines()[0] for w in caught]
            seconds = time.perf_counter() - started
            print(f"{how:8s} {x.nbytes / 1e6:.0f} MB: {seconds:.1f} s; warnings: {said}")


if __name__ == "__main__":
    main()
