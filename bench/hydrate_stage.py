"""The hydrate stage alone, steadier than a whole page: ``python -m bench.hydrate_stage BUNDLE``.

Loads the bundle as the service does, ranks ``--requests`` pages per pipeline (the payloads of
:mod:`bench.bench_serving`, as :mod:`bench.request_components` builds them) and keeps each
page's filtered candidates. It then runs the pipeline's hydrate (extra features, inputs,
features) and the model's score on those same candidates ``--rounds`` times and prints, per
pipeline, the lowest round's mean ms per request: on a shared machine another process's load
lifts whole rounds, and the lowest is the stage's own cost. The model's line is a control: its
code is the same before and after a hydrate change, so it should not move.
"""

from __future__ import annotations

import argparse
import copy
import gc
import time
from pathlib import Path

import numpy as np

from bench.bench_serving import request_payloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--pipelines", default="homepage,search,rerank")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    from ranking.engine import Engine
    from ranking.pipeline import RankRequest
    from ranking.settings import load_settings

    payloads = request_payloads(args.bundle)
    engine = Engine.load(args.bundle, load_settings([]))
    for name in args.pipelines.split(","):
        pipeline = engine.pipelines[name]
        hydrate, seen = pipeline._hydrate, []

        def keep(cands, request, hydrate=hydrate, seen=seen):
            seen.append((copy.copy(cands), request))
            return hydrate(cands, request)

        pipeline._hydrate = keep
        for i in range(args.requests):
            p = payloads[name][i % len(payloads[name])]
            engine.rank(name, RankRequest(
                surface="search" if name == "search" else "homepage", page_size=20,
                now_ms=engine.snapshot.as_of_ms, hour=12 + i % 10, user_id=p["user_id"],
                query=p.get("query"), seed=i,
                candidates=np.asarray(p["candidates"]) if name == "rerank" else None))
        pipeline._hydrate = hydrate
        gc.collect()
        gc.freeze()
        best = {"hydrate": float("inf"), "score": float("inf")}
        for _ in range(args.rounds):
            spent = dict.fromkeys(best, 0.0)
            for cands, request in seen:
                started = time.perf_counter()
                hydrate(cands, request)
                spent["hydrate"] += time.perf_counter() - started
                started = time.perf_counter()
                pipeline.model.score(cands.features)
                spent["score"] += time.perf_counter() - started
            best = {k: min(v, spent[k] / len(seen) * 1e3) for k, v in best.items()}
        print(f"{name}: hydrate {best['hydrate']:.3f} ms, model score {best['score']:.3f} ms "
              f"(lowest of {args.rounds} rounds' means over {len(seen)} requests)")
    engine.close()


if __name__ == "__main__":
    main()
