"""The select stage and the cards alone, steadier than a whole page:
``python -m bench.select_stage BUNDLE``.

Loads the bundle as the service does, ranks ``--requests`` pages per pipeline (the payloads of
:mod:`bench.bench_serving`, through :func:`bench.request_components.payload_request`) and keeps
each page's adjusted candidates and its placed page. It then places those same candidates
(each selector timed on its own, the page's notes reset each time) and builds the page's cards
``--rounds`` times, and prints per pipeline the lowest round's mean ms per request of each
selector, the whole placement and the cards: on a shared machine another process's load lifts
whole rounds, and the lowest is the stage's own cost. ``--cpu`` times by the thread's CPU clock
instead of the wall clock (a loaded machine's waits for a core are then not counted). Every round
must place the same rows as the ranked page (it stops otherwise).
"""

from __future__ import annotations

import copy
import cProfile
import os
import pstats
import time

import numpy as np

from bench.bench_serving import request_payloads
from bench.request_components import replay, stage_arguments

CLOCK = {"now": time.perf_counter}  # ``--cpu``: time.thread_time


def _timed(policy, spent: dict[str, float]):
    inner = policy.fill

    def fill(*args):
        started = CLOCK["now"]()
        inner(*args)
        spent[policy.name] = spent.get(policy.name, 0.0) + CLOCK["now"]() - started

    return fill


def main() -> None:
    parser = stage_arguments(__doc__, profile=True)
    parser.add_argument("--cpu", action="store_true", help="time by the thread's CPU clock, not the wall's")
    args = parser.parse_args()
    now = CLOCK["now"] = time.thread_time if args.cpu else time.perf_counter
    from ranking.engine import Engine
    from ranking.pipeline.rule_notes import RuleNotes
    from ranking.settings import load_settings

    payloads = request_payloads(args.bundle)
    engine = Engine.load(args.bundle, load_settings([]))
    for name in args.pipelines.split(","):
        pipeline = engine.pipelines[name]
        selector, seen = pipeline.selector, []
        place = selector.place

        def keep(cands, request, snapshot, rng, place=place, seen=seen):
            notes = [list(n) for n in cands.rule_notes]
            placement = place(cands, request, snapshot, rng)
            seen.append((copy.copy(cands), notes, request, placement.rows))
            return placement

        replay(engine, name, payloads, args.requests, selector, "place", keep)
        spent: dict[str, float] = {}
        for policy in selector.policies:
            policy.fill = _timed(policy, spent)
        best: dict[str, float] = {}
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        for _ in range(args.rounds):
            spent.clear()
            spent.update(place=0.0, cards=0.0)
            for cands, notes, request, rows in seen:
                cands.rule_notes = RuleNotes.of([list(n) for n in notes])  # as recalled, each round
                started = now()
                placement = place(cands, request, engine.snapshot, np.random.default_rng(request.seed))
                spent["place"] += now() - started
                if not np.array_equal(placement.rows, rows):
                    raise SystemExit(f"{name}: a replayed page placed other rows")
                page = cands.take(placement.rows)
                started = now()
                engine._cards(page, placement.propensity, request.now_ms)
                spent["cards"] += now() - started
            for k, v in spent.items():
                best[k] = min(best.get(k, float("inf")), v / len(seen) * 1e3)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            if os.environ.get("SHELFRANK_PROFILE_CALLEES"):
                pstats.Stats(profiler).print_callees(os.environ["SHELFRANK_PROFILE_CALLEES"])
        for policy in selector.policies:
            del policy.fill
        parts = ", ".join(f"{k} {v:.3f}" for k, v in best.items())
        print(f"{name}: {parts} ms (lowest of {args.rounds} rounds' means over {len(seen)} requests)")
    engine.close()


if __name__ == "__main__":
    main()
