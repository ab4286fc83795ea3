"""The event loop's CPU per page over HTTP, two code trees alternated:
``python -m bench.loop_cpu BUNDLE --tree BEFORE --tree AFTER [--rounds N] [--seconds S]``.

Starts the one-worker service of each tree (``PYTHONPATH`` the tree, run from it) side by side
as ``bench.speed`` starts it (live state ``embedded``, no write limit, no access log), imports
the same book (:data:`bench.speed.RULES` rules, :data:`bench.speed.SYNONYMS` synonym sets) and
gives the shoppers live clicks, then for each round drives search, homepage, rerank-500 and the
no-op with wrk at one connection for ``S`` seconds, each tree in turn (so a busy spell of the
shared machine falls on both), and reads the CPU seconds of each service's main thread (the
uvicorn event loop: the protocol, the middlewares, the body, the response, the side effects)
per answered request from psutil. Prints, per tree and page, every round's event-loop ms, the
lowest and median and the median of its kernel (system) part, with the load average; ``--out``
also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import psutil

from bench.bench_serving import run_wrk, wrk_script
from bench.speed import PAGES, prepare, workload
from shelfrank.local_service import start_service, stop_service


def start_tree(tree: Path, bundle: Path, events: Path) -> tuple[subprocess.Popen, str]:
    """The one-worker service of the code in ``tree``, set as ``bench.speed`` sets it: (process, url)."""
    return start_service(bundle.parent, events, workers=1, bundle=bundle, tree=tree,
                         extra=["live.backend=embedded", "serving.write_rate_per_second=0"])


def main_thread_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user, system) of the process's main thread, which runs the event loop."""
    thread = next(t for t in psutil.Process(pid).threads() if t.id == pid)
    return thread.user_time, thread.system_time


def loop_ms(pid: int, url: str, script: Path, seconds: int) -> tuple[float, float]:
    """The event loop's (user + system, system) CPU ms per answered request of one wrk run."""
    (user, system) = main_thread_seconds(pid)
    out = run_wrk(url, script, 1, seconds)
    assert not out["non_2xx"], out
    (user_after, system_after) = main_thread_seconds(pid)
    n = max(out["requests"], 1)
    return 1000 * (user_after - user + system_after - system) / n, 1000 * (system_after - system) / n


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--tree", type=Path, action="append", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=4)
    p.add_argument("--pages", default=",".join(PAGES))
    p.add_argument("--out", type=Path)
    return p.parse_args()


def main() -> None:
    args = arguments()
    book, bodies = workload(args.bundle)
    products = np.unique(np.concatenate([b["candidates"] for b in bodies["rerank"]]))
    pages = args.pages.split(",")
    with tempfile.TemporaryDirectory(prefix="loop-cpu-") as tmp:
        services = []
        try:
            for n, tree in enumerate(args.tree):
                services.append(start_tree(tree.resolve(), args.bundle.resolve(), Path(tmp) / f"events-{n}"))
                prepare(services[-1][1], book, bodies, products)
            scripts = {p: wrk_script(PAGES[p], bodies[p], Path(tmp)) for p in pages}
            for _, url in services:  # warm every page once
                for page in pages:
                    run_wrk(url, scripts[page], 1, 1)
            ms: dict = {str(t): {p: [] for p in pages} for t in args.tree}
            kernel: dict = {str(t): {p: [] for p in pages} for t in args.tree}
            loads = []
            for _ in range(args.rounds):
                loads.append(os.getloadavg()[0])
                for page in pages:
                    for tree, (proc, url) in zip(args.tree, services, strict=True):
                        cpu, system = loop_ms(proc.pid, url, scripts[page], args.seconds)
                        ms[str(tree)][page].append(round(cpu, 4))
                        kernel[str(tree)][page].append(round(system, 4))
        finally:
            for proc, _ in services:
                stop_service(proc)
    report = {"load_average": [round(x, 2) for x in loads], "event_loop_cpu_ms": {
        tree: {p: {"rounds": v, "lowest": min(v), "median": round(statistics.median(v), 4),
                   "system_median": round(statistics.median(kernel[tree][p]), 4)}
               for p, v in per.items()} for tree, per in ms.items()}}
    print(json.dumps(report, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
