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

``--components`` also times every component of the page (:func:`bench.request_components.instrument`,
by the page thread's CPU) and the garbage collections (``gc.callbacks``) during each page, and
names the slowest pages' body (which shopper; ``first`` when its shopper was served for the first
time) and the components they spent most above that component's median (``over_median``);
``--distinct N`` serves :func:`bench.speed.distinct_bodies` (every page a new shopper).

Beside the slowest pages, the percentiles of each page's own CPU (``own_cpu_ms``: the page thread
and the event loop) and of it with the background threads' CPU spent meanwhile
(``with_background_cpu_ms``): where the two part at p99 the tail is the background's (the live
tail's apply, the followers), not the pages'. With ``--components``, the page thread's median CPU
of a body's first page against its later ones (``page_thread_first_vs_repeat_ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.thread_cpu import own_threads


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name (numbered pool threads summed under one name)."""
    out: dict[str, float] = {}
    for name, clock in own_threads().values():
        out[name] = out.get(name, 0.0) + clock
    return out


class Collections:
    """``gc.callbacks``: the collections (and their wall ms) since the last :meth:`take`."""

    def __init__(self) -> None:
        self.started, self.done = 0.0, []
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.done.append((info["generation"], (time.perf_counter() - self.started) * 1000))

    def take(self) -> list:
        done, self.done = self.done, []
        return done

    def close(self) -> None:
        gc.callbacks.remove(self.callback)


async def serve(bundle: Path, page: str, requests: int, overrides: list[str], components: bool = False,
                distinct: int = 0, warm: int = 50) -> list[dict]:
    """Each page's wall ms, process CPU ms and CPU ms per thread while it was served (with
    ``components``: each component's thread CPU ms, the collections and which body it was)."""
    from bench.http_path import PAGES, bench_app, call, set_up
    from bench.request_components import CLOCK, TOTALS, instrument, instrument_live

    with tempfile.TemporaryDirectory(prefix="slow-pages-") as work:
        app = bench_app(bundle, work, overrides)
        async with app.router.lifespan_context(app):
            bodies = (await set_up(app, bundle, True, distinct))[page]
            if components:
                CLOCK["now"] = time.thread_time
                instrument(app.state.shelfrank.engine)
                instrument_live(app.state.shelfrank.live)
            gc.collect()
            gc.freeze()
            for i in range(warm):
                await call(app, "POST", PAGES[page], bodies[i % len(bodies)])
            served, seen, collections = [], set(), Collections()
            try:
                for i in range(warm, warm + requests):
                    body = i % len(bodies)
                    TOTALS.clear()
                    collections.take()
                    before, wall, cpu = thread_cpu(), time.perf_counter(), time.process_time()
                    status, text = await call(app, "POST", PAGES[page], bodies[body])
                    assert status == 200, (status, text[:300])
                    wall, cpu, after = time.perf_counter() - wall, time.process_time() - cpu, thread_cpu()
                    threads = {k: round((v - before.get(k, 0.0)) * 1000, 2) for k, v in after.items()
                               if v - before.get(k, 0.0) > 1e-4}
                    served.append({"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "threads": threads,
                                   "body": body, "first": body not in seen, "gc": collections.take(),
                                   "components": {k: v * 1000 for k, v in TOTALS.items()}})
                    seen.add(body)
            finally:
                collections.close()
    return served


def over_median(served: list[dict], i: int, top: int = 4) -> dict[str, float]:
    """The components page ``i`` spent most above each one's median over every page (ms)."""
    labels = {k for s in served for k in s["components"]}
    median = {k: float(np.median([s["components"].get(k, 0.0) for s in served])) for k in labels}
    extra = {k: v - median[k] for k, v in served[i]["components"].items() if "stage" not in k}
    return {k: round(v, 2) for k, v in sorted(extra.items(), key=lambda kv: -kv[1])[:top]}


OWN_THREADS = ("shelfrank-page", "MainThread")  # the page's own: its thread and the event loop


def own_and_background(served: list[dict]) -> dict:
    """Percentiles of each page's own CPU, and of it with the other threads' CPU meanwhile."""
    own = np.array([sum(s["threads"].get(k, 0.0) for k in OWN_THREADS) for s in served])
    every = np.array([sum(s["threads"].values()) for s in served])
    qs = (50, 90, 98, 99, 99.5)
    return {"own_cpu_ms": {q: round(float(np.percentile(own, q)), 2) for q in qs},
            "with_background_cpu_ms": {q: round(float(np.percentile(every, q)), 2) for q in qs}}


def first_and_repeat(served: list[dict]) -> dict[str, float]:
    """The page thread's median CPU ms on a body's first page and on its repeats."""
    page = {flag: [s["threads"].get("shelfrank-page", 0.0) for s in served if s["first"] == flag]
            for flag in (True, False)}
    return {("first" if flag else "repeat"): round(float(np.median(v)), 2) if v else None
            for flag, v in page.items()}


def report(served: list[dict], slowest: int) -> dict:
    wall = np.array([s["wall_ms"] for s in served])
    cpu = np.array([s["cpu_ms"] for s in served])
    order = np.argsort(-wall)[:slowest]
    tail_busy = [float(s["threads"].get("live-tail", 0.0)) for s in served]
    out = {"requests": len(served),
           "wall_ms": {q: round(float(np.percentile(wall, q)), 2) for q in (50, 90, 99)},
           "cpu_ms": {q: round(float(np.percentile(cpu, q)), 2) for q in (50, 90, 99)},
           "pages_with_live_tail_over_2ms": int(sum(t > 2.0 for t in tail_busy)),
           **own_and_background(served),
           "slowest": [{"i": int(i), "wall_ms": round(float(wall[i]), 2), "cpu_ms": round(float(cpu[i]), 2),
                        "threads": served[i]["threads"]} for i in order]}
    if "components" in served[0]:
        out["collections"] = sum(len(s["gc"]) for s in served)
        out["page_thread_first_vs_repeat_ms"] = first_and_repeat(served)
        for row, i in zip(out["slowest"], order, strict=True):
            s = served[int(i)]
            row.update(body=s["body"], first=s["first"], gc=s["gc"], over_median=over_median(served, int(i)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--page", default="search", choices=("search", "homepage", "rerank"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--slowest", type=int, default=10)
    parser.add_argument("--set", action="append", default=[], help="settings override key=value")
    parser.add_argument("--components", action="store_true",
                        help="also each component's CPU, the collections and the body of each slow page")
    parser.add_argument("--distinct", type=int, default=0, help="N bodies each a new shopper (bench.speed)")
    parser.add_argument("--warm", type=int, default=50,
                        help="pages served before the measured ones (0: as wrk starts)")
    parser.add_argument("--json", type=Path, help="also write every page's record here")
    args = parser.parse_args()
    served = asyncio.run(serve(args.bundle, args.page, args.requests, args.set, args.components,
                               args.distinct, args.warm))
    if args.json:
        args.json.write_text(json.dumps(served))
    print(json.dumps(report(served, args.slowest), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
