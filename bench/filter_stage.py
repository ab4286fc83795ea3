"""The candidate set's own costs, steadier than a whole page: ``python -m bench.filter_stage BUNDLE``.

Loads the bundle as the service does and, for ``--requests`` pages per pipeline (the payloads of
:mod:`bench.bench_serving`, as :mod:`bench.request_components` builds them), asks each recall
source once and keeps its list. It then runs, ``--rounds`` times over those same lists:

- ``union``: the recall stage's union of the sources' lists and the pinned products
  (:meth:`CandidateSet.union_counted`, not kept: ``Pipeline.unions`` keeps repeats);
- ``filter``: the pipeline's filter stage (``Pipeline._filter``) on a fresh union, its filters and
  the stage's own work (each dropping filter's ``take``, the dropped entries);
- ``take20``: a page's ``take`` of 20 rows of the filtered set (the selection's);
- ``json``: the filter stage's dropped entries written as the response writes them
  (:func:`serving.pages.encoded_body` of a body holding only them);
- with ``--kept``, the union kept by its lists (``Pipeline.unions``, a repeated query's or
  shopper's) and the filter stage on it (its kept rows and decisions: a repeat's path);

and prints, per pipeline, the lowest round's mean CPU ms per request (the thread's CPU time: on a
shared machine another process's load lifts whole rounds' wall time; the lowest is the code's
own cost). ``--recall`` also
times the search recall stage both ways (``Pipeline._recall`` with the recall pool, and every
source on the request's thread), wall and the process's CPU (every thread's) per request.
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

from bench.bench_serving import request_payloads
from bench.request_components import payload_request, stage_arguments


def _lowest(rounds: int, seen: list, step) -> float:
    """The lowest round's mean CPU ms (this thread's) per item of ``step(item)`` over ``seen``: on
    two loaded cores every round waits for the CPU, so a round's wall time is the load's."""
    best = float("inf")
    for _ in range(rounds):
        started = time.thread_time()
        for item in seen:
            step(item)
        best = min(best, (time.thread_time() - started) / len(seen) * 1e3)
    return best


def _stages(engine, name: str, payloads: dict, args: argparse.Namespace) -> None:
    from ranking.merchandising.in_force import rules_in_force
    from ranking.merchandising.pins import pinned_list
    from ranking.pipeline.candidates import CandidateSet

    def joined(parts: dict, found) -> CandidateSet:  # the union as the recall stage makes it
        return CandidateSet.union_counted(parts, pinned_list(found) if pipeline.adds_pinned else None)[0]

    def kept(parts: dict, found) -> CandidateSet:  # a repeat's union, kept by its lists
        return pipeline.unions.union_counted(parts, pinned_list(found) if pipeline.adds_pinned else None)[0]

    pipeline = engine.pipelines[name]
    seen = []
    for i in range(args.requests):
        request = payload_request(engine, payloads, name, i)
        parts = {s.name: s.recall(request, pipeline.recall_k) for s in pipeline.sources}
        seen.append((parts, request, rules_in_force(request, pipeline.merchandising)))
    filtered = [pipeline._filter(joined(p, f), r)[0] for p, r, f in seen]
    gc.collect()
    gc.freeze()
    union = _lowest(args.rounds, seen, lambda s: joined(s[0], s[2]))
    both = _lowest(args.rounds, seen,
                   lambda s: pipeline._filter(joined(s[0], s[2]), s[1]))
    take = _lowest(args.rounds, filtered, lambda c: c.take(np.arange(min(20, len(c)))))
    if args.kept:  # a repeat's union is kept (Pipeline.unions): the filter stage on the kept union
        for p, r, f in seen:
            pipeline._filter(kept(p, f), r)
        kept_union = _lowest(args.rounds, seen, lambda s: kept(s[0], s[2]))
        kept_both = _lowest(args.rounds, seen, lambda s: pipeline._filter(kept(s[0], s[2]), s[1]))
        print(f"{name} kept union (CPU): union {kept_union:.3f} ms, filter {kept_both - kept_union:.3f} ms "
              f"(union + filter {kept_both:.3f})")
    from serving.pages import encoded_body

    dropped = [{"dropped": pipeline._filter(joined(p, f), r)[1]} for p, r, f in seen]
    json = _lowest(args.rounds, dropped, encoded_body)
    size = sum(len(joined(p, f)) for p, _, f in seen) / len(seen)
    kept = sum(len(c) for c in filtered) / len(filtered)
    print(f"{name} (CPU): union {union:.3f} ms, filter {both - union:.3f} ms (union + filter {both:.3f}), "
          f"take20 {take * 1e3:.1f} us, json {json * 1e3:.1f} us; {size:.0f} recalled, {kept:.0f} kept "
          f"(lowest of {args.rounds} rounds' means over {len(seen)} requests)")


def _recall_both_ways(engine, payloads: dict, args: argparse.Namespace) -> None:
    pipeline = engine.pipelines["search"]
    requests = [payload_request(engine, payloads, "search", i) for i in range(args.requests)]

    def pooled(request) -> None:
        pipeline._recall(request)

    def inline(request) -> None:  # the same union as ``_recall``'s (kept per pipeline)
        k = pipeline.recall_k
        pipeline.unions.union_counted({s.name: s.recall(request, k) for s in pipeline.sources})

    for way in (pooled, inline):
        for r in requests:
            way(r)  # the query vectors kept, as on the bench's repeated queries
    best = {"pooled": [float("inf")] * 2, "inline": [float("inf")] * 2}
    for _ in range(args.rounds):
        for label, way in (("pooled", pooled), ("inline", inline)):
            wall, cpu = time.perf_counter(), time.process_time()
            for r in requests:
                way(r)
            spent = ((time.perf_counter() - wall) / len(requests) * 1e3,
                     (time.process_time() - cpu) / len(requests) * 1e3)
            best[label] = [min(b, s) for b, s in zip(best[label], spent, strict=True)]
    for label, (wall, cpu) in best.items():
        print(f"search recall {label}: {wall:.3f} ms wall, {cpu:.3f} ms CPU per request "
              f"(lowest of {args.rounds} rounds, each alternating the two)")


def main() -> None:
    parser = stage_arguments(__doc__, "search,homepage,rerank")
    parser.add_argument("--recall", action="store_true", help="also the search recall, pooled and inline")
    parser.add_argument("--kept", action="store_true",
                        help="also the filter stage on the kept union (a repeated query's or shopper's)")
    args = parser.parse_args()
    from ranking.engine import Engine
    from ranking.recall.vector_index import set_search_threads
    from ranking.settings import load_settings

    settings = load_settings([])
    set_search_threads(settings.serving.search_threads)  # as the service does
    payloads = request_payloads(args.bundle)
    engine = Engine.load(args.bundle, settings)
    for name in args.pipelines.split(","):
        _stages(engine, name, payloads, args)
    if args.recall:
        _recall_both_ways(engine, payloads, args)
    engine.close()


if __name__ == "__main__":
    main()
