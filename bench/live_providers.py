"""The hydrate stage's extra-features providers alone, with everything on: ``python -m
bench.live_providers BUNDLE [--pipelines homepage,search,rerank] [--rounds 15] [--profile]``.

Builds the real app as ``bench.request_components --app`` does (live state ``embedded``, the
book of :mod:`bench.speed`, the shoppers' live clicks), serves ``--requests`` pages per pipeline
through its ASGI callable and keeps each page's hydrated candidates and request. It then calls
each of the pipeline's ``extra_features`` providers (``live``, ``dense_similarity``) on those
same candidates ``--rounds`` times, and the live provider's two reads apart (the candidates'
``product_signals``; the shopper columns), and prints per pipeline the lowest round's mean of
the thread's CPU ms per request: on a shared machine another process's load lifts whole rounds,
and the lowest is the provider's own cost. ``--profile`` adds cProfile's top functions of the
live provider's calls (one extra round).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import gc
import pstats
import tempfile
import time
from pathlib import Path


def _captured(app, loop, bodies, pipelines: list[str], requests: int) -> dict[str, list]:
    """Per pipeline, ``requests`` pages' (candidates, request) as the hydrate stage saw them."""
    from bench.http_path import PAGES, call

    engine = app.state.shelfrank.engine
    seen: dict[str, list] = {}
    for name in pipelines:
        pipeline, kept = engine.pipelines[name], seen.setdefault(name, [])
        hydrate = pipeline._hydrate

        def keep(cands, request, hydrate=hydrate, kept=kept):
            kept.append((copy.copy(cands), request))
            return hydrate(cands, request)

        pipeline._hydrate = keep
        try:
            for i in range(requests):
                batch = bodies[name]
                status, text = loop.run_until_complete(call(app, "POST", PAGES[name], batch[i % len(batch)]))
                assert status == 200, (name, status, text[:300])
        finally:
            pipeline._hydrate = hydrate
    return seen


def _parts(pipeline) -> dict:
    """What is timed: each provider, then the live provider's two reads apart."""
    from ranking.live import features as live_features

    parts = {getattr(f, "name", None) or getattr(f, "__name__", "?"): f for f in pipeline.extra_features}
    parts["hydrate stage (whole)"] = lambda request, cands: pipeline._hydrate(cands, request)
    live = parts.get("live")
    if live is not None:
        def signals(request, cands):
            return request.live_signals(cands.product_ids, request.now_ms) if request.live_signals else None

        def shopper(request, cands):
            leaves = live.leaves(cands.product_ids)
            items = live.leaves(request.shopper.items) if request.shopper is not None else None
            return live_features.live_feature_columns(request.shopper, None, cands.product_ids, leaves, items,
                                                      request.now_ms, live.settings)

        parts["  live: product_signals"] = signals
        parts["  live: shopper columns (with leaves)"] = shopper
    return parts


def _lowest(parts: dict, seen: list, rounds: int) -> dict[str, float]:
    best = dict.fromkeys(parts, float("inf"))
    for _ in range(rounds):
        for label, part in parts.items():
            started = time.thread_time()
            for cands, request in seen:
                part(request, cands)
            best[label] = min(best[label], (time.thread_time() - started) / len(seen) * 1e3)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--pipelines", default="homepage,search,rerank")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    from bench.http_path import bench_app, set_up

    with tempfile.TemporaryDirectory(prefix="live-providers-") as work:
        app = bench_app(args.bundle, work)
        loop = asyncio.new_event_loop()
        lifespan = app.router.lifespan_context(app)
        loop.run_until_complete(lifespan.__aenter__())
        try:
            bodies = loop.run_until_complete(set_up(app, args.bundle, True))
            names = args.pipelines.split(",")
            seen = _captured(app, loop, bodies, names, args.requests)
            gc.collect()
            gc.freeze()
            for name in names:
                parts = _parts(app.state.shelfrank.engine.pipelines[name])
                best = _lowest(parts, seen[name], args.rounds)
                print(f"== {name} (thread CPU ms per request, lowest of {args.rounds} rounds' means over "
                      f"{len(seen[name])} requests)")
                for label, ms in best.items():
                    print(f"  {ms:7.3f} ms  {label}")
                if args.profile and "live" in parts:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    for cands, request in seen[name]:
                        parts["live"](request, cands)
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        finally:
            loop.run_until_complete(lifespan.__aexit__(None, None, None))
            loop.close()


if __name__ == "__main__":
    main()
