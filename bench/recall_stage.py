"""The recall stage alone, with everything on: ``python -m bench.recall_stage BUNDLE``.

Serves ``--requests`` pages per pipeline through the real app as :mod:`bench.http_path` sets it up
(live state, 1,000 rules, 10,000 synonym sets, live clicks), keeps each page's engine request,
then times, ``--rounds`` times over those requests (each with its per-request memo emptied, as a
new request has it), the lowest round's mean per request:

- ``stage``: the stage as ``Pipeline.run`` runs it (``rules_in_force``, then ``_recall`` with the
  recall pool and the pinned products), wall and the process's CPU (every thread's);
- each source's ``recall`` alone, ``rules_in_force`` and ``union+pins`` (the union of the
  sources' lists and the pinned products) and ``union kept`` (the pipeline's ``unions``, the same
  union kept by its lists' identity, warmed once; how many it keeps: a list not kept is joined
  again; ``missed``: a memo that keeps nothing, every call a miss): this thread's CPU.

``--first-time``: before every call the homepage recall forgets its shoppers (the kept contexts,
``personal``'s lists, ``similar``'s seed rows and every source's kept list; not the per-mask
values), so each page is timed as a shopper's first homepage (what sets its p99 over HTTP, where
``bench.speed``'s 50 shoppers are each new once a run).
"""

from __future__ import annotations

import gc
import time

from bench.request_components import stage_arguments


def _lowest(rounds: int, items: list, step, clock=time.thread_time) -> float:
    """The lowest round's mean ms of ``clock`` per item of ``step(item)`` over ``items``."""
    best = float("inf")
    for _ in range(rounds):
        started = clock()
        for item in items:
            step(item)
        best = min(best, (clock() - started) / len(items) * 1e3)
    return best


def _fresh(request):
    request.hydrated.clear()
    return request


def shopper_memos(engine) -> list:
    """The homepage recalls' per-shopper memos (``--first-time`` empties them before each call)."""
    from ranking.bounded_memo import BoundedMemo
    from ranking.recall.homepage import HomepageRecall

    recalls = {id(o): o for p in engine.pipelines.values() for s in p.sources for o in vars(s).values()
               if isinstance(o, HomepageRecall)}
    memos = []
    for recall in recalls.values():
        memos.append(recall.shopper.kept)
        for component in recall.components:
            memos += [m for m in vars(component).values() if isinstance(m, BoundedMemo)]
            memos += [component._lists[1]] if hasattr(component, "_lists") else []
    return memos


def forgetting(memos: list, step):
    """``step`` with every memo of ``memos`` emptied before each call."""
    if not memos:
        return step

    def first_time(item):
        for memo in memos:
            memo._values.clear()
        return step(item)

    return first_time


def _stage(pipeline, request) -> None:
    from ranking.merchandising.in_force import rules_in_force
    from ranking.merchandising.pins import pinned_list

    found = rules_in_force(_fresh(request), pipeline.merchandising)
    pipeline._recall(request, pinned_list(found) if pipeline.adds_pinned else None)


def _time(pipeline, name: str, requests: list, rounds: int, memos: list) -> None:
    from ranking.merchandising.in_force import rules_in_force
    from ranking.merchandising.pins import pinned_list
    from ranking.pipeline.candidates import CandidateSet

    k = pipeline.recall_k
    for request in requests:
        _stage(pipeline, request)  # warm: the kept results as on the bench's repeated payloads
    stage = forgetting(memos, lambda r: _stage(pipeline, r))
    wall = _lowest(rounds, requests, stage, time.perf_counter)
    cpu = _lowest(rounds, requests, stage, time.process_time)
    parts = [f"stage {wall:.3f} ms wall, {cpu:.3f} ms CPU (process)"]
    for source in pipeline.sources:
        spent = _lowest(rounds, requests, forgetting(memos, lambda r, s=source: s.recall(_fresh(r), k)))
        parts.append(f"{source.name} {spent:.3f}")
    in_force = _lowest(rounds, requests, lambda r: rules_in_force(_fresh(r), pipeline.merchandising))
    parts.append(f"rules_in_force {in_force:.3f}")
    lists = [({s.name: s.recall(_fresh(r), k) for s in pipeline.sources},
              pinned_list(rules_in_force(r, pipeline.merchandising)) if pipeline.adds_pinned else None)
             for r in requests]
    parts.append(f"union+pins {_lowest(rounds, lists, lambda m: CandidateSet.union_counted(*m)):.3f}")
    if hasattr(pipeline, "unions"):  # the union kept by its lists' identity (ranking.pipeline.kept_union)
        for m in lists:
            pipeline.unions.union_counted(*m)
        kept = _lowest(rounds, lists, lambda m: pipeline.unions.union_counted(*m))
        missed = type(pipeline.unions)(0)  # keeps nothing: every call builds the key and joins
        missing = _lowest(rounds, lists, lambda m: missed.union_counted(*m))
        parts.append(f"union kept {kept:.3f} ({len(pipeline.unions)} kept), missed {missing:.3f}")
    made = [CandidateSet.union_counted(*m)[0] for m in lists]
    recalled = sum(len(c) for c in made) / len(made)
    print(f"{name}: " + ", ".join(parts) + f" (CPU ms; {recalled:.0f} recalled; lowest of {rounds} rounds' "
          f"means over {len(requests)} requests)")


def main() -> None:
    parser = stage_arguments(__doc__)
    parser.add_argument("--first-time", action="store_true",
                        help="every call a shopper's first homepage (the shopper memos emptied)")
    args = parser.parse_args()
    from bench.http_path import PAGES, call, set_up, started_app

    with started_app(args.bundle, "recall-stage-") as (app, loop):
        bodies = loop.run_until_complete(set_up(app, args.bundle, True))
        engine = app.state.shelfrank.engine
        for name in args.pipelines.split(","):
            pipeline, kept = engine.pipelines[name], []
            inner = pipeline._recall
            pipeline._recall = lambda request, *rest, _inner=inner, _kept=kept: (
                _kept.append(request), _inner(request, *rest))[1]
            for i in range(args.requests):
                status, _ = loop.run_until_complete(
                    call(app, "POST", PAGES[name], bodies[name][i % len(bodies[name])]))
                assert status == 200
            del pipeline._recall
            gc.collect()
            gc.freeze()
            _time(pipeline, name, kept, args.rounds, shopper_memos(engine) if args.first_time else [])


if __name__ == "__main__":
    main()
