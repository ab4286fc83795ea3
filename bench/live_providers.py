"""The hydrate stage's extra-features providers alone, with everything on: ``python -m
bench.live_providers BUNDLE [--pipelines homepage,search,rerank] [--rounds 15] [--profile]``.

Builds the real app as ``bench.request_components --app`` does (live state ``embedded``, the book of
:mod:`bench.speed`, the shoppers' live clicks), serves ``--requests`` pages per pipeline through its
ASGI callable and keeps each page's hydrated candidates and request. It then calls each of the
pipeline's ``extra_features`` providers (``live``, ``dense_similarity``) on those same candidates
``--rounds`` times, and the live provider's two reads apart (the candidates' ``product_signals``;
the shopper columns), and the request's live view as serving builds it before the engine
(``serving.live.shopper_view``: the backend's ``shopper_view``), and prints per pipeline the lowest
round's mean of the thread's CPU ms per request: on a shared machine another process's load lifts
whole rounds, and the lowest is the provider's own cost. ``--profile`` adds cProfile's top functions
of the live provider's calls (one extra round). ``--day`` first gives the state a day of traffic
(clicks on the pages' products every 10 minutes of the last 24 hours, by shoppers of their own), so
the counters' whole windows are live, as in a mall that has run for a day (a fresh bench state has a
single live bucket, whose read is the cheapest).
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import pstats
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


async def _a_day_of_clicks(app, bundle: Path) -> None:
    """Clicks on the rerank pages' products in every 10 minutes of the last day (``--day``)."""
    import numpy as np
    import orjson

    from bench.http_path import ADMIN, call
    from bench.speed import workload

    products = np.unique(np.concatenate([b["candidates"] for b in workload(bundle)[1]["rerank"]]))
    rng, now = np.random.default_rng(5), int(time.time() * 1000) - 120_000
    for step in range(144, 0, -1):  # oldest first: the rings take events in time order
        at = now - step * 600_000
        clicks = [{"request_id": 8_000_000 + step * 1000 + i, "timestamp": at + i,
                   "user_id": 9_000_000 + i % 50, "product_id": int(p), "position": 1}
                  for i, p in enumerate(rng.choice(products, 300))]
        status, text = await call(app, "POST", "/v1/events", orjson.dumps({"clicks": clicks}), ADMIN)
        assert status == 200, text[:300]


def _say_live_buckets(live) -> None:
    """How many of the product counters' buckets a read now sums (embedded state only)."""
    from ranking.live.batch import to_live_seconds

    state = getattr(live, "state", None)
    if state is not None and hasattr(state, "products"):
        now = int(to_live_seconds(state.now_ms(int(time.time() * 1000))))
        hour, day = state.products.hour, state.products.day
        print(f"live buckets read: hour {len(hour.live_slots(now))} of {hour.buckets}, "
              f"day {len(day.live_slots(now))} of {day.buckets}")


def _parts(pipeline, service) -> dict:
    """What is timed: each provider, then the live provider's two reads apart, then the request's
    live view (built by serving before the engine runs, so outside the hydrate stage's time)."""
    from ranking.live import features as live_features
    from serving.live import shopper_view

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
    parts["shopper_view (serving.live, before the engine)"] = (
        lambda request, cands: shopper_view(service, request.user_id, request.session_id, request.now_ms))
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
    parser.add_argument("--day", action="store_true",
                        help="a day of clicks first: the counters' whole windows live")
    args = parser.parse_args()
    from bench.http_path import set_up, started_app

    with started_app(args.bundle, "live-providers-") as (app, loop):
        if args.day:
            loop.run_until_complete(_a_day_of_clicks(app, args.bundle))
        bodies = loop.run_until_complete(set_up(app, args.bundle, True))
        _say_live_buckets(app.state.shelfrank.live)
        names = args.pipelines.split(",")
        seen = _captured(app, loop, bodies, names, args.requests)
        gc.collect()
        gc.freeze()
        for name in names:
            parts = _parts(app.state.shelfrank.engine.pipelines[name], app.state.shelfrank)
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


if __name__ == "__main__":
    main()
