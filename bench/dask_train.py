"""``shelfrank train --dask-scheduler`` measured: ``python bench/dask_train.py DATA [--rounds N]``.

Starts a fresh cluster on this machine (``dask scheduler`` and ``dask worker ADDRESS
--nworkers 2 --nthreads 1``, a new one per run so the workers' peaks are this run's),
runs ``python -m shelfrank [--set training.num_boost_round=N] train --data DATA
--dask-scheduler ADDRESS`` as a child process (without ``--rounds``, the settings'
``num_boost_round``), and prints JSON: the driver's wall time and
peak RSS (``os.wait4``'s ``ru_maxrss``), each worker's peak RSS, and the bundle manifest's
feature and training seconds. It imports nothing of the repository, so the same file
measures any checkout: the code measured is the one on ``PYTHONPATH`` (the cluster's
processes and the driver inherit it). The numbers in docs/scaling.md come from this command.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKERS = 2  # the cluster measured: dask worker --nworkers 2 --nthreads 1


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _dask() -> str:
    return str(Path(sys.executable).with_name("dask"))


def _wait_for(path: Path, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.is_file() and path.stat().st_size:
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                pass
        time.sleep(0.5)
    raise TimeoutError(f"no Dask scheduler file at {path} after {seconds} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="a mall folder")
    parser.add_argument("--rounds", type=int, help="training.num_boost_round (default: the settings')")
    args = parser.parse_args()
    from distributed import Client

    work = Path(tempfile.mkdtemp(prefix="shelfrank-dask-bench-"))
    scheduler_file = work / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    cluster = [subprocess.Popen([_dask(), "scheduler", "--scheduler-file", str(scheduler_file),
                                 "--port", "0", "--no-dashboard"], **quiet)]
    try:
        address = _wait_for(scheduler_file, 60)["address"]
        cluster.append(subprocess.Popen([_dask(), "worker", address, "--nworkers", str(WORKERS),
                                         "--nthreads", "1", "--no-dashboard",
                                         "--local-directory", str(work)], **quiet))
        with Client(address) as client:
            client.wait_for_workers(WORKERS, timeout=120)
        rounds = ["--set", f"training.num_boost_round={args.rounds}"] if args.rounds else []
        command = [sys.executable, "-m", "shelfrank", *rounds, "train", "--data", str(args.data),
                   "--out", str(work / "models"), "--dask-scheduler", address, "--no-progress"]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(command)} exited with {os.waitstatus_to_exitcode(status)}")
        with Client(address) as client:
            workers = client.run(_peak_gb)
        manifest = json.loads((work / "models" / "latest" / "manifest.json").read_text())
        t = manifest["training"]
        print(json.dumps({
            "command": " ".join(command[1:]), "wall_seconds": round(seconds, 1),
            "driver_peak_gb": round(usage.ru_maxrss / 2**20, 2),
            "worker_peak_gb": sorted(round(v, 2) for v in workers.values()),
            "feature_seconds": t["feature_seconds"], "train_seconds": t["train_seconds"],
            "num_trees": t["num_trees"], "train_rows": manifest["data"]["train_rows"],
            "valid_ndcg": t["valid_ndcg"]}))
    finally:
        for proc in reversed(cluster):  # only the processes this script started
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)  # the bundle and the workers' spill folder


if __name__ == "__main__":
    main()
