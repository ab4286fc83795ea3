"""Where a request's time goes, in process: ``python -m bench.request_path BUNDLE [--requests N]``.

Loads the bundle as the service does (``Engine.load``: verify, build pipelines, warm up),
then runs each pipeline on ``bench_serving``'s payloads and prints JSON: load seconds,
each pipeline's warm-up (its first request), and p50/p99 per pipeline stage and of the
whole call. Garbage collection is frozen after loading, as in the service. Use it to
find the stage a change should target; ``bench_serving`` measures the HTTP side.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import numpy as np

from bench.bench_serving import request_payloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    from ranking.engine import Engine
    from ranking.pipeline import RankRequest
    from ranking.recall.vector_index import set_search_threads
    from ranking.settings import load_settings

    settings = load_settings()
    set_search_threads(settings.serving.search_threads)  # as the service does
    payloads = request_payloads(args.bundle)
    started = time.perf_counter()
    engine = Engine.load(args.bundle, settings)
    load_seconds = round(time.perf_counter() - started, 2)
    out: dict = {"bundle": args.bundle.resolve().name, "load_seconds": load_seconds,
                 "warm_up_ms": {k: round(v * 1000, 2) for k, v in engine.warm_up_seconds.items()}}
    gc.collect()
    gc.freeze()

    def request(pipeline: str, i: int) -> RankRequest:
        p = payloads[pipeline][i % len(payloads[pipeline])]
        surface = "search" if pipeline == "search" else "homepage"
        candidates = np.asarray(p["candidates"]) if pipeline == "rerank" else None
        return RankRequest(surface=surface, page_size=20, now_ms=engine.snapshot.as_of_ms, hour=12 + i % 10,
                           user_id=p["user_id"], query=p.get("query"), candidates=candidates)

    for pipeline in ("rerank", "search", "homepage"):
        total, stages = [], {}
        for i in range(args.requests):
            t = time.perf_counter()
            page = engine.rank(pipeline, request(pipeline, i))
            total.append(time.perf_counter() - t)
            for stage, seconds in page.timings.items():
                stages.setdefault(stage, []).append(seconds)

        def p50_p99(values: list[float]) -> list[float]:
            return [round(float(np.percentile(values, q)) * 1000, 3) for q in (50, 99)]

        out[pipeline] = {"p50_p99_ms": p50_p99(total),
                         "stages_p50_p99_ms": {s: p50_p99(v) for s, v in stages.items()}}
    engine.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
