"""Where a page's live milliseconds go, in process (no HTTP): issue 25's profile.

``python -m bench.live_cost_profile BUNDLE [--rounds N] [--clock cpu] [--cprofile]`` loads the engine from a
bundle, gives an embedded live state (:class:`ranking.live.embedded.EmbeddedLiveState` over
an empty scratch log) the bench's warm-up (``bench_live_cost``'s 50 payload shoppers with
``CLICKS_PER_SHOPPER`` clicks each), then serves ``--rounds`` rounds of the bench's search and
homepage payloads, applying each served page's cards as impressions the way the service's
exposure log feeds the state (so the ignored cards build up as they do under wrk). It then
times each request stage by stage, with the live state and without (``shopper`` and
``live_signals`` None, as ``live.backend=off`` serves), and prints the median and p99 per
stage in milliseconds, and the difference. ``--cprofile`` adds the top functions of the live
arm by cumulative time; ``--clock cpu`` times with the process's CPU time instead of the wall.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from bench.bench_live_cost import CLICKS_PER_SHOPPER
from bench.bench_serving import request_payloads


class Clock:
    """What the profile times with: the wall (``perf_counter``) or this process's CPU time
    (``--clock cpu``: ``process_time``, every thread of the process, so the recall pool's
    work counts; a machine shared with other jobs slows the wall clock far more)."""

    def __init__(self) -> None:
        self.ns = time.perf_counter_ns

    def use_cpu(self) -> None:
        import ranking.pipeline.pipeline as pipeline_module

        self.ns = time.process_time_ns
        # the pipeline's own stage timings read time.perf_counter: give them the same clock
        pipeline_module.time = SimpleNamespace(perf_counter=time.process_time)


CLOCK = Clock()


def _timed(fn: Callable, into: dict[str, float], name: str) -> Callable:
    def wrapper(*args, **kwargs):
        t = CLOCK.ns()
        try:
            return fn(*args, **kwargs)
        finally:
            into[name] = into.get(name, 0.0) + (CLOCK.ns() - t) / 1e6
    return wrapper


class Stages:
    """perf_counter_ns around the live pieces of one engine's pipelines (wrapped in place)."""

    def __init__(self, engine) -> None:
        self.now: dict[str, float] = {}
        seen = set()
        for pipe in engine.pipelines.values():
            for obj in [*pipe.filters, *pipe.adjusters]:
                if id(obj) not in seen:
                    seen.add(id(obj))
                    obj.apply = _timed(obj.apply, self.now, f"{pipe.name}:{obj.name}")
            pipe.extra_features = [_timed(p, self.now, f"{pipe.name}:features:{getattr(p, 'name', '?')}")
                                   for p in pipe.extra_features]


def _warm(live, payloads: dict, products: np.ndarray, now_ms: int) -> None:
    rng = np.random.default_rng(3)
    users = sorted({p["user_id"] for p in payloads["homepage"] + payloads["search"]})
    for n, user in enumerate(users):
        clicks = [{"request_id": 7_000_000 + n * 100 + i, "timestamp": now_ms - 60_000 + i * 1000,
                   "user_id": user, "product_id": int(p), "position": 1}
                  for i, p in enumerate(rng.choice(products, CLICKS_PER_SHOPPER, replace=False))]
        live.apply("clicks", clicks)


def _request(name: str, body: dict, now_ms: int, seed: int):
    from ranking.pipeline import RankRequest

    return RankRequest(surface=name, page_size=body["page_size"], now_ms=now_ms, hour=20,
                       user_id=body["user_id"], query=body.get("query"), seed=seed)


def _serve(engine, live, name: str, body: dict, now_ms: int, seed: int, on: bool, stages: Stages
           ) -> tuple[object, dict[str, float]]:
    stages.now.clear()
    t0 = CLOCK.ns()
    request = _request(name, body, now_ms, seed)
    if on:
        view = live.shopper_view(request.user_id, None, now_ms)
        request.shopper = view if view.known else None
        request.live_signals = live.product_signals
    t1 = CLOCK.ns()
    page = engine.rank(name, request)
    t2 = CLOCK.ns()
    out = {"shopper_view": (t1 - t0) / 1e6, "rank (all)": (t2 - t1) / 1e6,
           **{f"stage:{k}": v * 1e3 for k, v in page.timings.items()}, **stages.now}
    return page, out


def _expose(live, body: dict, page, now_ms: int, request_id: int) -> None:
    live.apply("impressions", [{"request_id": request_id, "timestamp": now_ms, "user_id": body["user_id"],
                                "product_id": int(c["product_id"]), "position": i + 1}
                               for i, c in enumerate(page.cards)])


def profile(bundle: Path, rounds: int, repeats: int, cprofile: bool) -> None:
    from ranking.engine import Engine
    from ranking.live.embedded import EmbeddedLiveState
    from ranking.recall.vector_index import set_search_threads
    from ranking.settings import load_settings

    settings = load_settings()
    set_search_threads(settings.serving.search_threads)
    engine = Engine.load(bundle, settings)
    stages = Stages(engine)
    payloads = request_payloads(bundle)
    products = np.unique(np.concatenate([p["candidates"] for p in payloads["rerank"]]))
    now_ms = int(time.time() * 1000)
    with tempfile.TemporaryDirectory() as events:
        live = EmbeddedLiveState(settings.live, events)
        live.describe_catalog(*engine.product_leaves())
        _warm(live, payloads, products, now_ms)
        rid = 1
        for _ in range(rounds):  # the exposures a bench run feeds back
            for name in ("search", "homepage"):
                for body in payloads[name]:
                    rid += 1
                    page, _ = _serve(engine, live, name, body, now_ms, rid, True, stages)
                    _expose(live, body, page, now_ms, rid)
        times: dict[tuple[str, bool], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for _ in range(repeats):
            for name in ("search", "homepage"):
                for on in (True, False):
                    for i, body in enumerate(payloads[name]):
                        _, got = _serve(engine, live, name, body, now_ms, 10_000_000 + i, on, stages)
                        for k, v in got.items():
                            times[(name, on)][k].append(v)
        _print(times)
        _tail_cost(live, payloads, Path(events), now_ms)
        if cprofile:
            _cprofile(engine, live, payloads, now_ms, stages)


def _tail_cost(live, payloads: dict, events: Path, now_ms: int, pages: int = 8, polls: int = 100) -> None:
    """What the worker's log tail costs per poll: ``pages`` exposure lines of 20 cards (about
    ``live.poll_ms`` of one worker's pages), read, parsed and applied; the apply holds the lock."""
    folder = events / "exposures"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "profile.jsonl"
    rng = np.random.default_rng(11)
    held, total = [], []
    # the apply under the lock: apply_chunks (replay before the rows were made columns outside it)
    step = "apply_chunks" if hasattr(live.state, "apply_chunks") else "replay"
    apply = getattr(live.state, step)

    def timed(*args, **kwargs):
        t = CLOCK.ns()
        try:
            return apply(*args, **kwargs)
        finally:
            held.append((CLOCK.ns() - t) / 1e6)

    setattr(live.state, step, timed)
    rid = 50_000_000
    with log.open("ab") as f:
        for _ in range(polls):
            for _ in range(pages):
                rid += 1
                body = payloads["homepage"][int(rng.integers(len(payloads["homepage"])))]
                cards = rng.choice(payloads["rerank"][0]["candidates"], 20, replace=False).tolist()
                f.write(json.dumps({"request_id": rid, "timestamp": now_ms, "user_id": body["user_id"],
                                    "session_id": None, "surface": "homepage", "query_id": None,
                                    "cards": {"product_id": cards, "position": list(range(1, 21))}}
                                   ).encode() + b"\n")
            f.flush()
            t = CLOCK.ns()
            live.catch_up()
            total.append((CLOCK.ns() - t) / 1e6)
    setattr(live.state, step, apply)
    print(f"\nlog tail, one poll of {pages} pages' exposures ({pages * 20} impressions), {polls} polls:")
    for name, v in (("poll (read, parse, apply)", total), ("of which under the lock (apply)", held)):
        p50, p99 = np.percentile(v, 50), np.percentile(v, 99)
        print(f"  {name:36s} p50 {p50:7.3f}  p99 {p99:7.3f}  max {max(v):7.3f} ms")


def _print(times: dict) -> None:
    for name in ("search", "homepage"):
        on, off = times[(name, True)], times[(name, False)]
        print(f"\n{name}: stage{' ' * 22}live p50 / p99      off p50 / p99    extra p50 / p99 (ms)")
        for key in sorted(set(on) | set(off)):
            a = np.asarray(on.get(key, [0.0]))
            b = np.asarray(off.get(key, [0.0]))
            pa, qa, pb, qb = (np.percentile(a, 50), np.percentile(a, 99), np.percentile(b, 50),
                              np.percentile(b, 99))
            print(f"  {key:36s} {pa:7.3f} / {qa:7.3f}  {pb:7.3f} / {qb:7.3f}  "
                  f"{pa - pb:+7.3f} / {qa - qb:+7.3f}")


def _cprofile(engine, live, payloads: dict, now_ms: int, stages: Stages) -> None:
    for name in ("search", "homepage"):
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(3):
            for i, body in enumerate(payloads[name]):
                _serve(engine, live, name, body, now_ms, 10_000_000 + i, True, stages)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(45)
        print(f"\n===== cProfile, live arm, {name} (150 requests) =====")
        print(buf.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--rounds", type=int, default=12, help="rounds of exposures fed back before timing")
    parser.add_argument("--repeats", type=int, default=4, help="timed passes over the payloads per arm")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args()
    if args.clock == "cpu":
        CLOCK.use_cpu()
    profile(args.bundle, args.rounds, args.repeats, args.cprofile)


if __name__ == "__main__":
    main()
