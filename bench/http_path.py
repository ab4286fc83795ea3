"""What a page costs outside the engine, in process: ``python -m bench.http_path BUNDLE [--requests N]``.

Builds the real app (``serving.app.create_app``: every middleware, the routes, the lifespan that
loads ``BUNDLE``, live state ``embedded``), imports a merchandising book of
:data:`bench.speed.RULES` rules and :data:`bench.speed.SYNONYMS` synonym sets (``--no-book`` skips
it), gives every shopper of the payloads live clicks, then drives search, homepage, rerank (500
candidates) and the no-op endpoint through the app's ASGI callable, one request at a time on one
event loop (no sockets: what is left is the HTTP path's own Python). ``Engine.rank`` is timed
around its calls and ``RankingCall.serve`` (the worker thread's share of a page), so each page
prints, per request: wall ms; the engine's wall and CPU ms; and what is not the engine: its wall
ms (middleware, parsing and validation, dependencies, the thread hop, ``prepare``, the JSON and
the side effects), the event loop thread's CPU ms (``loop_cpu_ms``: everything but the worker
thread) and the worker thread's CPU ms outside ``Engine.rank`` (``prepare``, the checks, the
plan, the JSON); the CPU columns are the steadier ones. Garbage collection is frozen as in the
service. The machine is shared: compare runs back to back and read the ratios. ``--kept-pages``
makes ``Engine.rank`` return the page it ranked first for the same shopper, query and candidate
count (the HTTP path alone, without the engine's work disturbing its caches: steadier), and
``lowest`` gives each page's lowest value of every column over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ADMIN = [(b"authorization", b"Bearer s3cret")]
PAGES = {"search": "/v1/search", "homepage": "/v1/homepage", "rerank": "/v1/rerank", "noop": "/v1/noop"}


class Clocks:
    """``Engine.rank`` and ``RankingCall.serve`` (the worker thread's part of a page) wrapped:
    their wall and thread CPU seconds summed. The event loop's CPU is its own thread's."""

    def __init__(self) -> None:
        from ranking.engine import Engine
        from serving.routes.ranking import RankingCall

        self.totals = dict.fromkeys(("engine_wall", "engine_cpu", "thread_cpu"), 0.0)
        rank, serve, totals = Engine.rank, RankingCall.serve, self.totals

        def timed_rank(engine, *args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return rank(engine, *args, **kwargs)
            finally:
                totals["engine_wall"] += time.perf_counter() - wall
                totals["engine_cpu"] += time.thread_time() - cpu

        def timed_serve(call, *args, **kwargs):
            cpu = time.thread_time()
            try:
                return serve(call, *args, **kwargs)
            finally:
                totals["thread_cpu"] += time.thread_time() - cpu

        Engine.rank, RankingCall.serve = timed_rank, timed_serve

    def reset(self) -> None:
        self.totals.update(dict.fromkeys(self.totals, 0.0))


def keep_pages() -> None:
    """``Engine.rank`` returns the page it ranked first for the same pipeline, shopper, query and
    candidate count (wrapped inside :class:`Clocks`' timing, so the engine's columns show ~0)."""
    from ranking.engine import Engine

    rank, kept = Engine.rank, {}

    def kept_rank(engine, pipeline, request, *args, **kwargs):
        key = (pipeline, request.user_id, request.session_id, request.query,
               None if request.candidates is None else len(request.candidates))
        if key not in kept:
            kept[key] = rank(engine, pipeline, request, *args, **kwargs)
        return kept[key]

    Engine.rank = kept_rank


async def call(app, method: str, path: str, body: bytes = b"",
               headers: list | None = None) -> tuple[int, bytes]:
    """One request through ``app``'s ASGI callable: (status, body)."""
    raw, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": raw, "raw_path": raw.encode(), "query_string": query.encode(),
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {},
             "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode()), *(headers or [])]}
    sent = False
    out: dict = {"status": 0, "body": []}

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # nothing more: a disconnect never comes
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"].append(message.get("body", b""))

    await app(scope, receive, send)
    return out["status"], b"".join(out["body"])


def bench_app(bundle: Path, work: str | Path, overrides: list[str] | tuple[str, ...] = ()):
    """The real app on ``bundle`` as the in-process benches run it: live state ``embedded``, events
    under ``work``, the bench's operator token, no write limit and no access log (``overrides``:
    more ``key=value`` settings)."""
    from ranking.settings import load_settings
    from serving.app import create_app

    return create_app(load_settings([f"serving.bundle={bundle}", f"serving.events_dir={work}",
                                     "serving.admin_token=s3cret", "live.backend=embedded",
                                     "serving.write_rate_per_second=0", "serving.access_log=false",
                                     *overrides]))


@contextlib.contextmanager
def started_app(bundle: Path, prefix: str, overrides: list[str] | tuple[str, ...] = ()):
    """:func:`bench_app` on a new event loop, its lifespan entered (events in a temporary folder
    named from ``prefix``): yields (app, loop); the lifespan is left and the loop closed after."""
    with tempfile.TemporaryDirectory(prefix=prefix) as work:
        app = bench_app(bundle, work, overrides)
        loop = asyncio.new_event_loop()
        lifespan = app.router.lifespan_context(app)
        loop.run_until_complete(lifespan.__aenter__())
        try:
            yield app, loop
        finally:
            loop.run_until_complete(lifespan.__aexit__(None, None, None))
            loop.close()


def click_rows(user: int, products: np.ndarray, first_request: int, now_ms: int, step_ms: int) -> list[dict]:
    """One shopper's clicks on ``products`` for ``POST /v1/events`` (request ids from
    ``first_request``, timestamps ``step_ms`` apart from ``now_ms``)."""
    return [{"request_id": first_request + i, "timestamp": now_ms + i * step_ms, "user_id": user,
             "product_id": int(p), "position": 1} for i, p in enumerate(products)]


async def set_up(app, bundle: Path, book: bool, distinct: int = 0,
                 clicks: bool = True) -> dict[str, list[bytes]]:
    """The book imported (unless ``book`` is false), the shoppers' clicks posted (unless ``clicks`` is
    false: every shopper then as the bundle knows them, no live event yet): the bodies per page
    (``distinct`` > 0 with the book: :func:`bench.speed.distinct_bodies`, every body a new shopper
    and, for search, a new query)."""
    from bench.bench_live_cost import CLICKS_PER_SHOPPER
    from bench.bench_serving import request_payloads
    from bench.speed import _strip, workload

    if book:
        merch, bodies = workload(bundle, distinct=distinct)
        file = {"format": 1, "rules": [_strip(r) for r in merch["rules"]],
                "synonyms": [_strip(s) for s in merch["synonyms"]]}
        status, text = await call(app, "POST", "/v1/merchandising/import?mode=replace",
                                  orjson.dumps(file), ADMIN)
        assert status == 200, text[:300]
    else:
        bodies = request_payloads(bundle)
    products = np.unique(np.concatenate([b["candidates"] for b in bodies["rerank"]]))
    rng, now = np.random.default_rng(3), int(time.time() * 1000) - 60_000
    shoppers = sorted({b["user_id"] for b in bodies["homepage"] + bodies["search"]}) if clicks else []
    for n, user in enumerate(shoppers):
        rows = click_rows(user, rng.choice(products, CLICKS_PER_SHOPPER, replace=False),
                          7_000_000 + n * 100, now, 1000)
        status, text = await call(app, "POST", "/v1/events", orjson.dumps({"clicks": rows}), ADMIN)
        assert status == 200, text[:300]
    await asyncio.sleep(3)  # the live tail and the book's follower catch up
    return {page: [orjson.dumps(b) for b in bodies[page]] for page in PAGES}


async def measure(app, bodies: dict[str, list[bytes]], requests: int, clocks: Clocks) -> dict:
    """Per page and request: wall ms; the engine's wall and CPU ms; what is not the engine: the
    wall ms, the event loop's CPU ms and the worker thread's CPU ms outside ``Engine.rank``."""
    out = {}
    for page, path in PAGES.items():
        batch = bodies[page]
        for i in range(min(50, requests)):  # warm
            await call(app, "POST", path, batch[i % len(batch)])
        clocks.reset()
        loop_cpu, wall = time.thread_time(), time.perf_counter()
        for i in range(requests):
            status, text = await call(app, "POST", path, batch[i % len(batch)])
            assert status == 200, (page, status, text[:300])
        ms = {k: v * 1000 / requests for k, v in clocks.totals.items()}
        wall_ms = (time.perf_counter() - wall) * 1000 / requests
        out[page] = {k: round(v, 3) for k, v in {
            "wall_ms": wall_ms, "engine_wall_ms": ms["engine_wall"], "engine_cpu_ms": ms["engine_cpu"],
            "outside_wall_ms": wall_ms - ms["engine_wall"],
            "loop_cpu_ms": (time.thread_time() - loop_cpu) * 1000 / requests,
            "thread_cpu_outside_ms": ms["thread_cpu"] - ms["engine_cpu"]}.items()}
    return out


async def run(bundle: Path, requests: int, rounds: int, book: bool, kept: bool = False) -> dict:
    import gc

    with tempfile.TemporaryDirectory(prefix="http-path-") as work:
        app = bench_app(bundle, work)
        if kept:
            keep_pages()
        clocks = Clocks()
        async with app.router.lifespan_context(app):
            bodies = await set_up(app, bundle, book)
            gc.collect()
            gc.freeze()
            measured = [await measure(app, bodies, requests, clocks) for _ in range(rounds)]
            lowest = {page: {k: min(r[page][k] for r in measured) for k in measured[0][page]}
                      for page in measured[0]}
            return {"bundle": bundle.resolve().name, "requests": requests, "book": book,
                    "kept_pages": kept, "lowest": lowest, "rounds": measured}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-book", dest="book", action="store_false")
    parser.add_argument("--kept-pages", action="store_true", help="the engine returns kept pages")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.bundle, args.requests, args.rounds, args.book, args.kept_pages)),
                     indent=1))


if __name__ == "__main__":
    main()
