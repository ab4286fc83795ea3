"""The slowest pages in process, and which of the service's threads ran while each was served:
``python -m bench.slow_pages BUNDLE [--page search] [--requests 1000] [--slowest 10] [--set k=v]``.

Sets the real app up as :mod:`bench.http_path` does (everything on: live state ``embedded``, the
merchandising book of :mod:`bench.speed`, the shoppers' live clicks), serves ``--requests`` pages
one at a time through its ASGI callable, and reads every thread's CPU clock before and after each.
Prints the wall and process-CPU percentiles, then the slowest pages with the CPU ms each thread
spent during them (``shelfrank-page``: the page itself; ``live-tail``: the live state applying the
exposure log; ``recall``: the pooled recall source; the followers; ``MainThread``: the event loop).
A slow page whose ``live-tail`` figure is large waited for the tail's apply to give the GIL back;
one whose page figure is large cost more itself. ``--set`` overrides settings (for example
``serving.exposure_flush_seconds=0.1``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name (numbered pool threads summed under one name)."""
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            clock = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, ValueError):  # the thread ended between the listing and the read
            continue
        name = thread.name.rstrip("0123456789_ ")
        out[name] = out.get(name, 0.0) + clock
    return out


async def serve(bundle: Path, page: str, requests: int, overrides: list[str]) -> list[dict]:
    """Each page's wall ms, process CPU ms and CPU ms per thread while it was served."""
    from bench.http_path import PAGES, bench_app, call, set_up

    with tempfile.TemporaryDirectory(prefix="slow-pages-") as work:
        app = bench_app(bundle, work, overrides)
        async with app.router.lifespan_context(app):
            bodies = (await set_up(app, bundle, True))[page]
            gc.collect()
            gc.freeze()
            for i in range(50):  # warm
                await call(app, "POST", PAGES[page], bodies[i % len(bodies)])
            served = []
            for i in range(requests):
                before, wall, cpu = thread_cpu(), time.perf_counter(), time.process_time()
                status, text = await call(app, "POST", PAGES[page], bodies[i % len(bodies)])
                assert status == 200, (status, text[:300])
                wall, cpu, after = time.perf_counter() - wall, time.process_time() - cpu, thread_cpu()
                threads = {k: round((v - before.get(k, 0.0)) * 1000, 2) for k, v in after.items()
                           if v - before.get(k, 0.0) > 1e-4}
                served.append({"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "threads": threads})
    return served


def report(served: list[dict], slowest: int) -> dict:
    wall = np.array([s["wall_ms"] for s in served])
    cpu = np.array([s["cpu_ms"] for s in served])
    order = np.argsort(-wall)[:slowest]
    tail_busy = [float(s["threads"].get("live-tail", 0.0)) for s in served]
    return {"requests": len(served),
            "wall_ms": {q: round(float(np.percentile(wall, q)), 2) for q in (50, 90, 99)},
            "cpu_ms": {q: round(float(np.percentile(cpu, q)), 2) for q in (50, 90, 99)},
            "pages_with_live_tail_over_2ms": int(sum(t > 2.0 for t in tail_busy)),
            "slowest": [{"i": int(i), "wall_ms": round(float(wall[i]), 2), "cpu_ms": round(float(cpu[i]), 2),
                         "threads": served[i]["threads"]} for i in order]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--page", default="search", choices=("search", "homepage", "rerank"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--slowest", type=int, default=10)
    parser.add_argument("--set", action="append", default=[], help="settings override key=value")
    args = parser.parse_args()
    served = asyncio.run(serve(args.bundle, args.page, args.requests, args.set))
    print(json.dumps(report(served, args.slowest), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
