"""Feature building, local vs a Dask cluster: ``python -m bench.feature_build DATA local|ADDRESS``.

Prints JSON: cards, seconds to prepare (mall and search index, as ``train_bundle`` does),
feature-building wall and CPU seconds (driver plus every worker for Dask), the driver's
peak RSS, each worker's peak RSS and the frame's size. The numbers in docs/scaling.md come
from this command. Start a cluster with ``dask scheduler`` and ``dask worker ADDRESS
--nworkers 2 --nthreads 1``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="a mall folder")
    parser.add_argument("mode", help="'local' or a Dask scheduler address")
    args = parser.parse_args()
    from ranking.contracts.frames import load_frames
    from ranking.settings import load_settings
    from training.data.mall_data import MallTables, load_mall
    from training.learning.train import build_search_recall

    settings = load_settings()
    started = time.perf_counter()
    out: dict = {"mode": args.mode}
    if args.mode == "local":
        from training.learning.dataset import build_ranking_frame

        mall = load_mall(args.data)
        search = build_search_recall(mall, settings)
        prepared, cpu0 = time.perf_counter(), time.process_time()
        frame = build_ranking_frame(mall, settings, progress=False, search=search)
        cpu = time.process_time() - cpu0
    else:
        from distributed import Client

        from training.dask.features import build_ranking_frame_on_dask

        catalog = MallTables(args.data, load_frames(args.data, ["products", "brands", "categories"]))
        search = build_search_recall(catalog, settings)
        with Client(args.mode) as client:
            workers0 = sum(client.run(_cpu_seconds).values())
        prepared, cpu0 = time.perf_counter(), time.process_time()
        frame = build_ranking_frame_on_dask(args.data, settings, args.mode, progress=False, search=search)
        driver_cpu = time.process_time() - cpu0
        with Client(args.mode) as client:
            cpu = sum(client.run(_cpu_seconds).values()) - workers0 + driver_cpu
            out["worker_peak_gb"] = {w: round(v, 2) for w, v in client.run(_peak_gb).items()}
    done = time.perf_counter()
    out.update(cards=len(frame), prepare_seconds=round(prepared - started, 1),
               features_seconds=round(done - prepared, 1), features_cpu_seconds=round(cpu, 1),
               driver_peak_gb=round(_peak_gb(), 2),
               frame_gb=round(sum(v.nbytes for v in frame.__dict__.values() if hasattr(v, "nbytes"))
                              / 2**30, 2))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
