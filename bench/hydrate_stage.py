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

import copy
import time

from bench.bench_serving import request_payloads
from bench.request_components import replay, stage_arguments


def main() -> None:
    args = stage_arguments(__doc__).parse_args()
    from ranking.engine import Engine
    from ranking.settings import load_settings

    payloads = request_payloads(args.bundle)
    engine = Engine.load(args.bundle, load_settings([]))
    for name in args.pipelines.split(","):
        pipeline = engine.pipelines[name]
        hydrate, seen = pipeline._hydrate, []

        def keep(cands, request, hydrate=hydrate, seen=seen):
            seen.append((copy.copy(cands), request))
            return hydrate(cands, request)

        replay(engine, name, payloads, args.requests, pipeline, "_hydrate", keep)
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
