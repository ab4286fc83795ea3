"""The adjusters alone, inside the app with everything on, steadier than a whole page:
``python -m bench.adjust_stage BUNDLE``.

Builds the real app as :mod:`bench.http_path` does (live state ``embedded``, the merchandising
book of :mod:`bench.speed`, the shoppers' live clicks), serves ``--requests`` pages per pipeline
through its ASGI callable and keeps each page's scored candidates as the adjusters got them
(their adjustments and notes so far) and what the adjusters made of them. It then runs every
adjuster on those same candidates ``--rounds`` times (the adjustments and notes reset to the
kept ones each time) and prints per pipeline the lowest round's mean ms per request of each
adjuster and of all of them, by the thread's CPU clock (``--wall``: the wall clock): on a shared
machine another process's load lifts whole rounds, and the lowest is the stage's own cost. Every
round must give the served page's adjustments to the bit and its notes (it stops otherwise).
``--profile`` adds cProfile's top functions of the replays.
"""

from __future__ import annotations

import cProfile
import time

import numpy as np

from bench.request_components import stage_arguments


def _state(cands) -> tuple:
    """What the adjusters read and write of ``cands`` beyond its columns, to reset it to."""
    notes = cands.rule_notes
    return (cands.adjustments.copy(), {k: list(v) for k, v in notes._lists.items()}, list(notes._waiting),
            dict(cands.rule_moves), list(cands.noted_moves))


def _reset(cands, state: tuple) -> None:
    from ranking.pipeline.rule_notes import RuleNotes

    adjustments, lists, waiting, moves, noted = state
    cands.adjustments = adjustments.copy()
    cands.rule_notes = RuleNotes(len(cands), {k: list(v) for k, v in lists.items()})
    cands.rule_notes._waiting = list(waiting)
    cands.rule_moves, cands.noted_moves = dict(moves), list(noted)


def _result(cands) -> tuple:
    """The adjusters' output: the adjustments and every candidate's notes as ``explain`` reads them."""
    return cands.adjustments.copy(), [cands.notes(i) for i in range(len(cands))]


def _kept_pages(app, loop, bodies, name: str, requests: int) -> list:
    from bench.http_path import PAGES, call

    pipeline = app.state.shelfrank.engine.pipelines[name]
    first, last, seen = pipeline.adjusters[0], pipeline.adjusters[-1], []
    apply_first, apply_last = first.apply, last.apply

    def keep_first(cands, request, snapshot):
        seen.append([cands, request, snapshot, _state(cands)])
        return apply_first(cands, request, snapshot)

    def keep_last(cands, request, snapshot):
        apply_last(cands, request, snapshot)
        seen[-1].append(_result(cands))

    first.apply, last.apply = keep_first, keep_last
    try:
        batch = bodies[name]
        for i in range(requests):
            status, text = loop.run_until_complete(call(app, "POST", PAGES[name], batch[i % len(batch)]))
            assert status == 200, (name, status, text[:300])
    finally:
        del first.apply, last.apply
    return seen


def _same(got: tuple, want: tuple) -> bool:
    return np.array_equal(got[0].view(np.int64), want[0].view(np.int64)) and got[1] == want[1]


def _round(adjusters, seen: list, now, profiler: cProfile.Profile | None) -> dict[str, float]:
    spent = dict.fromkeys([a.name for a in adjusters] + ["all"], 0.0)
    for cands, request, snapshot, state, want in seen:
        _reset(cands, state)
        if profiler:
            profiler.enable()
        begun = now()
        for a in adjusters:
            started = now()
            a.apply(cands, request, snapshot)
            spent[a.name] += now() - started
        spent["all"] += now() - begun
        if profiler:
            profiler.disable()
        if not _same(_result(cands), want):
            raise SystemExit("a replayed page's adjusters gave other adjustments or notes")
    return spent


def main() -> None:
    import gc
    import pstats

    parser = stage_arguments(__doc__, profile=True)
    parser.add_argument("--wall", action="store_true", help="time by the wall clock, not the thread's CPU")
    args = parser.parse_args()
    now = time.perf_counter if args.wall else time.thread_time
    from bench.http_path import set_up, started_app

    with started_app(args.bundle, "adjust-stage-") as (app, loop):
        bodies = loop.run_until_complete(set_up(app, args.bundle, True))
        engine = app.state.shelfrank.engine
        for name in args.pipelines.split(","):
            seen = _kept_pages(app, loop, bodies, name, args.requests)
            adjusters = engine.pipelines[name].adjusters
            gc.collect()
            gc.freeze()
            profiler = cProfile.Profile() if args.profile else None
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                spent = _round(adjusters, seen, now, profiler)
                for k, v in spent.items():
                    best[k] = min(best.get(k, float("inf")), v / len(seen) * 1e3)
            parts = ", ".join(f"{k} {v:.4f}" for k, v in best.items())
            print(f"{name}: {parts} ms (lowest of {args.rounds} rounds' means over {len(seen)} pages)")
            if profiler:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
