"""Where a page's time goes, component by component: ``python -m bench.request_components BUNDLE``.

Loads the bundle as the service does (``Engine.load``, GC frozen after loading), wraps every
component of every pipeline with a timer (each recall source, filter, adjuster and selector,
the feature build and the model) and ranks ``--requests`` pages per pipeline in turn, one at
a time, on :mod:`bench.bench_serving`'s payloads. Prints each pipeline's mean ms per request
(wall, and the process's CPU ms, which a shared machine's load moves less) and each component's
mean ms (components under 0.02 ms are left out; recall sources run in the recall pool, so they
overlap); ``--features`` adds each feature computed per request; ``--distinct N`` draws N
payloads per page (default 50: shoppers and queries repeat, as in ``bench.speed``; above
``--requests`` + 30 every measured request is a new shopper and a new query). ``--profile`` adds cProfile's
top functions by own time.
``--set key=value`` overrides settings as the CLI does. Use it to find what a change should
target; :mod:`bench.speed` measures the same pages over HTTP with everything on.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import os
import pstats
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.bench_serving import request_payloads

TOTALS: dict[str, float] = defaultdict(float)
CLOCK = {"now": time.perf_counter}  # ``--thread-cpu``: time.thread_time, the component's thread's CPU
# ``--app --profile``: the profiler the app's engine turns on around each page (its worker thread;
# cProfile sees only the thread that enabled it)
IN_WORKER: dict[str, cProfile.Profile | None] = {"profiler": None}


SCANS: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # label -> [calls, queries or rows]


def _timer(inner, label: str, size=None):
    """``inner`` timed into ``TOTALS[label]`` (``CLOCK``: with ``--thread-cpu`` the thread's CPU, as
    every other component); with ``size``, also counted into ``SCANS[label]`` (calls, ``size(*args)``)."""

    @functools.wraps(inner)
    def timed(*args, **kwargs):
        started = CLOCK["now"]()
        try:
            return inner(*args, **kwargs)
        finally:
            TOTALS[label] += CLOCK["now"]() - started
            if size is not None:
                SCANS[label][0] += 1
                SCANS[label][1] += size(*args)

    return timed


def _wrap(obj: object, method: str, label: str) -> None:
    setattr(obj, method, _timer(getattr(obj, method), label))


def _name(provider) -> str:
    return getattr(provider, "name", None) or getattr(provider, "__name__", type(provider).__name__)


def _timed(provider, label: str):
    """``provider`` (a pipeline's ``extra_features`` callable) with a timer."""
    return _timer(provider, label)


def instrument_features() -> None:
    """Wrap every registered feature's ``compute`` with a timer."""
    from ranking.features.registry import features

    for f in features():
        inner = f.compute

        def timed(inputs, _inner=inner, _label=f"feature: {f.name}"):
            started = CLOCK["now"]()
            try:
                return _inner(inputs)
            finally:
                TOTALS[_label] += CLOCK["now"]() - started

        object.__setattr__(f, "compute", timed)  # a frozen dataclass


def instrument(engine) -> None:
    """Wrap every pipeline's components (and the shared model) with timers."""
    import ranking.pipeline.pipeline as pipeline_module

    models = set()
    for name, p in engine.pipelines.items():
        groups = (("recall", p.sources, "recall"), ("filter", p.filters, "apply"),
                  ("adjust", p.adjusters, "apply"), ("select", p.selector.policies, "fill"))
        for kind, parts, method in groups:
            for part in parts:
                _wrap(part, method, f"{name} {kind}: {getattr(part, 'name', type(part).__name__)}")
        # each extra-features provider by name (live, dense_similarity)
        p.extra_features = [_timed(f, f"{name} hydrate: {_name(f)}") for f in p.extra_features]
        for stage in ("_recall", "_filter", "_hydrate"):
            _wrap(p, stage, f"{name} stage {stage.strip('_')}")
        _wrap(p.selector, "place", f"{name} stage select")
        if id(p.model) not in models:
            models.add(id(p.model))
            _wrap(p.model, "score", "model: score")
    for fn in ("compute_features", "build_inputs", "report_page", "rules_in_force",
               "ready_product_feature_table"):
        _wrap(pipeline_module, fn, f"function: {fn}")  # a module's function, as the pipeline calls it
    _wrap(engine, "_cards", "engine: cards")


def instrument_live(live) -> None:
    """Time the live reads inside the pages (``--app``): the candidates' counters (the live
    features' and cold start's reads) and the live features' shopper columns."""
    import ranking.live.features as live_features

    if live is not None:
        _wrap(live, "product_signals", "live: product_signals (hydrate + cold start)")
    _wrap(live_features, "_shopper_columns", "live: shopper columns")
    if hasattr(live_features, "one_shopper_columns"):  # a served page's own form (one shopper)
        _wrap(live_features, "one_shopper_columns", "live: shopper columns")


def instrument_scans() -> None:
    """Time the FAISS scans and the query's encoding (``--scans``): each exact index's
    ``VectorIndex.search`` by (rows, dimensions, k), the non-zero rows' scan (``faiss.knn``), a
    whole-index scan inside it (``index.search``) and ``TextEncoder.encode``, with their calls and
    queries (rows for ``faiss.knn``), to say what a first visit's recall pays for."""
    import faiss

    from ranking.recall import vector_index
    from ranking.recall.dense import TextEncoder

    def counted(label: str, inner, size) -> object:
        return _timer(inner, label, size)

    search = vector_index.VectorIndex.search

    def by_index(self, queries, k):
        label = f"scan: {self.kind} {self.size}x{self.dim} k={k}"
        return counted(label, search, lambda self, q, k: len(np.atleast_2d(q)))(self, queries, k)

    vector_index.VectorIndex.search = by_index
    knn = faiss.knn
    vector_index.faiss.knn = counted("scan: faiss.knn (rows)", knn, lambda q, xb, k, **kw: len(xb))
    for cls in (faiss.IndexFlatIP, faiss.IndexHNSWFlat):  # the whole index, inside VectorIndex.search
        cls.search = counted("scan: whole index (queries)", cls.search, lambda self, x, k, **kw: len(x))
    TextEncoder.encode = counted("scan: encode (texts)", TextEncoder.encode, lambda self, texts: len(texts))


def stage_arguments(doc: str, pipelines: str = "homepage,search,rerank", profile: bool = False
                    ) -> argparse.ArgumentParser:
    """The arguments the one-stage benchmarks share (``bench.hydrate_stage``, ``bench.select_stage``,
    ``bench.filter_stage``, ``bench.adjust_stage``): the bundle, the pipelines, the requests
    replayed and the rounds; with ``profile``, ``--profile`` (cProfile's top functions)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--pipelines", default=pipelines)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=15)
    if profile:
        parser.add_argument("--profile", action="store_true", help="cProfile's top functions of the replays")
    return parser


def replay(engine, name: str, payloads: dict[str, list[dict]], requests: int, owner: object, method: str,
           wrapper) -> None:
    """Rank ``requests`` pages of pipeline ``name`` with ``owner.method`` replaced by ``wrapper``
    (which keeps the stage's inputs), restore it, then freeze the GC: how the one-stage benchmarks
    collect the inputs they time."""
    inner = getattr(owner, method)
    setattr(owner, method, wrapper)
    try:
        for i in range(requests):
            engine.rank(name, payload_request(engine, payloads, name, i))
    finally:
        setattr(owner, method, inner)
    gc.collect()
    gc.freeze()


def payload_request(engine, payloads: dict[str, list[dict]], pipeline: str, i: int):
    """The ``i``-th engine request of ``pipeline`` from :func:`bench.bench_serving.request_payloads`
    (its seed ``i``, hours 12-21 in turn, the bundle's clock)."""
    from ranking.pipeline import RankRequest

    p = payloads[pipeline][i % len(payloads[pipeline])]
    candidates = np.asarray(p["candidates"]) if pipeline == "rerank" else None
    return RankRequest(surface="search" if pipeline == "search" else "homepage", page_size=20,
                       now_ms=engine.snapshot.as_of_ms, hour=12 + i % 10, user_id=p["user_id"],
                       query=p.get("query"), candidates=candidates, seed=i)


def measure(rank, pipeline: str, args: argparse.Namespace) -> None:
    """Rank 30 warm-up pages of ``pipeline`` then ``args.requests`` measured ones (``rank(pipeline,
    i)`` ranks the ``i``-th) and print the mean ms per request and each component's."""
    for i in range(30):
        rank(pipeline, i)
    TOTALS.clear()
    SCANS.clear()
    profiler = cProfile.Profile() if args.profile else None
    here = profiler if not args.app else None  # the app's pages run on its worker threads
    IN_WORKER["profiler"] = profiler if args.app else None
    started, cpu_started = time.perf_counter(), time.process_time()
    if here:
        here.enable()
    for i in range(30, 30 + args.requests):  # after the warm-up's payloads
        rank(pipeline, i)
    if here:
        here.disable()
    IN_WORKER["profiler"] = None
    mean = (time.perf_counter() - started) / args.requests * 1e3
    cpu = (time.process_time() - cpu_started) / args.requests * 1e3  # every thread's CPU: less
    print(f"== {pipeline}: {mean:.2f} ms per request, {cpu:.2f} ms CPU "  # moved by others' load
          f"(mean of {args.requests})")
    for label, seconds in sorted(TOTALS.items(), key=lambda kv: -kv[1]):
        if seconds / args.requests * 1e3 >= 0.02 or label in SCANS:
            calls = SCANS.get(label)
            n = args.requests
            counts = f"  ({calls[0] / n:.2f} calls, {calls[1] / n:.1f} a page)" if calls else ""
            print(f"  {seconds / args.requests * 1e3:7.3f} ms  {label}{counts}")
    SCANS.clear()
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        if os.environ.get("SHELFRANK_PROFILE_CALLERS"):
            pstats.Stats(profiler).sort_stats("tottime").print_callers(os.environ["SHELFRANK_PROFILE_CALLERS"])


def ready(engine, features: bool) -> None:
    """Instrument ``engine`` (and every feature when ``features``), then freeze the GC as the service does."""
    instrument(engine)
    if features:
        instrument_features()
    gc.collect()
    gc.freeze()


def _profile_in_worker(engine) -> None:
    """``engine.rank`` turns :data:`IN_WORKER`'s profiler on around each page, on its own thread."""
    inner = engine.rank

    @functools.wraps(inner)
    def rank(*args, **kwargs):
        profiler = IN_WORKER["profiler"]
        if profiler is None:
            return inner(*args, **kwargs)
        profiler.enable()
        try:
            return inner(*args, **kwargs)
        finally:
            profiler.disable()

    engine.rank = rank


def app_main(args: argparse.Namespace) -> None:
    """``--app``: the pages through the real app's ASGI callable with everything on, as
    :mod:`bench.http_path` sets it up (live state ``embedded``, the merchandising book of
    :mod:`bench.speed`, the shoppers' live clicks), the app's engine instrumented. The CPU per
    request is the process's: the page, the event loop and the live state's background work."""

    from bench.http_path import PAGES, call, set_up, started_app

    with started_app(args.bundle, "request-components-", args.set) as (app, loop):
        bodies = loop.run_until_complete(set_up(app, args.bundle, True, args.distinct or 0,
                                                not args.no_live_clicks))
        engine = app.state.shelfrank.engine
        _profile_in_worker(engine)
        ready(engine, args.features)
        instrument_live(app.state.shelfrank.live)

        def rank(pipeline: str, i: int) -> None:
            batch = bodies[pipeline]
            page = call(app, "POST", PAGES[pipeline], batch[i % len(batch)])
            status, text = loop.run_until_complete(page)
            assert status == 200, (pipeline, status, text[:300])

        for pipeline in args.pipelines.split(","):
            measure(rank, pipeline, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--pipelines", default="homepage,search,rerank")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="also cProfile's top functions")
    parser.add_argument("--distinct", type=int, default=None,
                        help="payloads per page: shoppers and queries repeat every this many requests "
                             "(default 50, as bench.speed); more than --requests + 30 makes every measured "
                             "request a shopper and a query not seen before (the kept results miss); "
                             "with --app, N bodies each a new shopper and query (bench.speed --distinct)")
    parser.add_argument("--features", action="store_true",
                        help="also each feature's compute, as 'feature: NAME' (those the per-product table "
                             "gathers are not computed per request and do not show)")
    parser.add_argument("--set", action="append", default=[], help="settings override key=value")
    parser.add_argument("--app", action="store_true",
                        help="through the real app with everything on (live state, the merchandising "
                             "book, the shoppers' live clicks), as bench.http_path, on bench.speed's "
                             "bodies (its --distinct ones with --distinct)")
    parser.add_argument("--no-live-clicks", action="store_true",
                        help="with --app, post no live clicks first: every shopper as the bundle knows "
                             "them (a first homepage before any live event reads personal's kept list)")
    parser.add_argument("--scans", action="store_true",
                        help="also the FAISS scans (by index and k, with calls and queries a page), the "
                             "non-zero rows' scan, whole-index scans and the query encoder, as 'scan: ...'")
    parser.add_argument("--thread-cpu", action="store_true",
                        help="time each component by its thread's CPU, not the wall clock (steadier "
                             "on a shared machine; a component waiting on another thread reads low)")
    args = parser.parse_args()
    if args.thread_cpu:
        CLOCK["now"] = time.thread_time
    if args.scans:
        instrument_scans()
    from ranking.engine import Engine
    from ranking.recall.vector_index import set_search_threads
    from ranking.settings import load_settings

    if args.app:
        app_main(args)
        return
    settings = load_settings(args.set)
    set_search_threads(settings.serving.search_threads)
    payloads = request_payloads(args.bundle, count=args.distinct or 50)
    engine = Engine.load(args.bundle, settings)
    ready(engine, args.features)

    def rank(pipeline: str, i: int) -> None:
        engine.rank(pipeline, payload_request(engine, payloads, pipeline, i))

    for pipeline in args.pipelines.split(","):
        measure(rank, pipeline, args)
    engine.close()


if __name__ == "__main__":
    main()
