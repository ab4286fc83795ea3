"""The FastAPI application: middleware, lifespan, error shape and the routers, wired.

``create_app(settings)`` builds the app and puts the :class:`~serving.state.ServiceState`
on ``app.state.shelfrank``, where routes reach it (:mod:`serving.dependencies`); the
routes live in :mod:`serving.routes` (ranking, events, demo, operations). The bundle
loads in the lifespan (so a worker is ready only when its engine is), after which the
garbage collector's start-up objects are frozen and its gen-0 threshold raised
(``../shared/docs/performance.md``: full collections otherwise land on random requests
as 80 ms stalls); the live state then replays and follows the event log (:mod:`serving.live`);
a watcher follows reloads made by other workers; the ranking pages' threads
(:mod:`serving.page_route`) live as long as the lifespan. Backpressure
(:mod:`serving.admission`) is the outermost layer, so a shed request costs no parsing;
then the body's read deadline and size limit. At SIGTERM the worker first turns
``/readyz`` to 503 for ``serving.drain_seconds`` while it still serves, then lets uvicorn
drain (its ``timeout_graceful_shutdown`` bounds that). FastAPI's native OpenTelemetry is off
unless the environment configures OpenTelemetry (:func:`native_telemetry`): the service reports
through its own Prometheus metrics and access log, and the check alone cost every request a
tracer-provider lookup.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response

from ranking.experiments import VARIANT_HEADER
from ranking.recall.vector_index import set_search_threads
from ranking.settings import Settings
from serving.access_log import AccessLogMiddleware, ensure_handler
from serving.admission import AdmissionMiddleware
from serving.allocator import tune_allocator
from serving.auth import ServiceAuth
from serving.catalog import start_catalog, stop_catalog
from serving.limits import RequestLimitsMiddleware
from serving.live import start_live, stop_live
from serving.merchandising import IMPORT_PATH, start_merchandising, stop_merchandising
from serving.page_route import start_page_threads, stop_page_threads
from serving.responses import ERROR_RESPONSES
from serving.routes import catalog, channels, console, demo, docs, events, live, merchandising, merchant, ops
from serving.routes.ranking import add_ranking_routes
from serving.state import ServiceState

log = logging.getLogger("shelfrank.serving")
# the cyclic GC once the loaded state is frozen: young collections rarely (a page makes thousands
# of objects, none cyclic), so a collection never scans the engine (bench.bench_new_products runs so)
GC_THRESHOLDS = (50_000, 20, 100)


def create_app(settings: Settings, load: bool = True) -> FastAPI:
    """The service for ``settings``; ``load=False`` starts without loading a bundle."""
    limits = settings.serving
    app = FastAPI(
        title="Shelfrank",
        version="1",
        summary="Ranking and recommendation for a shelf-style mall: search, homepage, rerank.",
        lifespan=lambda app: _lifespan(app, load),
        responses=ERROR_RESPONSES,
        docs_url=None,  # FastAPI's pages load their assets from a CDN: serving/routes/docs.py
        redoc_url=None,
        telemetry=native_telemetry(os.environ),
    )
    app.state.shelfrank = ServiceState(settings)
    app.state.shelfrank_auth = ServiceAuth(limits)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, server_error)
    app.add_middleware(RequestLimitsMiddleware, seconds=limits.body_timeout_seconds,
                       max_bytes=limits.max_body_bytes, paths={
                           IMPORT_PATH: (settings.merchandising.max_import_bytes,
                                         "merchandising.max_import_bytes")})
    if limits.access_log:
        ensure_handler()
        app.add_middleware(AccessLogMiddleware)
    if limits.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=limits.cors_origins,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", VARIANT_HEADER])
    add_ranking_routes(app.router, limits)  # not included: one match per page, not two
    app.include_router(channels.router)
    app.include_router(events.router)
    app.include_router(demo.router)
    app.mount("/static", demo.static_files(), name="static")
    app.include_router(ops.router)
    app.include_router(live.router)
    app.include_router(merchant.router)
    app.include_router(catalog.router)
    app.include_router(merchandising.router)
    app.include_router(console.router)
    app.include_router(docs.router)
    app.mount(docs.ASSETS_PATH, docs.asset_files(), name="docs-assets")
    app.add_middleware(AdmissionMiddleware, max_in_flight=limits.max_in_flight,
                       queue_seconds=limits.queue_timeout_seconds, retry_after=limits.retry_after_seconds)
    return app


TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False}


def native_telemetry(environ: Mapping[str, str]) -> dict | None:
    """FastAPI's ``telemetry`` option: None (FastAPI's default, on when OpenTelemetry providers
    are configured) when the environment sets up OpenTelemetry (``FASTAPI_OTEL_AUTO_CONFIGURE=true``
    or any ``OTEL_*`` variable, as ``opentelemetry-instrument`` uses); else off, FastAPI's documented
    switch (``FastAPI(telemetry={...})``), so a request does not ask the global providers whether
    they are configured (``NativeTelemetry.enabled``, on the event loop, every request)."""
    wanted = environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true" or \
        any(name.startswith("OTEL_") for name in environ)
    return None if wanted else dict(TELEMETRY_OFF)


async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
    """422 naming each bad field (the offending input is not echoed: it may be NaN or huge)."""
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]
    return Response(content=orjson.dumps({"detail": detail}), status_code=422,
                    media_type="application/json")


async def server_error(request: Request, exc: Exception) -> Response:
    """An unhandled error: logged with its traceback, answered as the documented JSON shape
    (not Starlette's plain-text page), naming nothing of the internals."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(content=orjson.dumps({"detail": "internal server error"}), status_code=500,
                    media_type="application/json")


@asynccontextmanager
async def _lifespan(app: FastAPI, load: bool) -> AsyncIterator[None]:
    state: ServiceState = app.state.shelfrank
    limits = state.settings.serving
    set_search_threads(limits.search_threads)
    tune_allocator(limits.malloc_mmap_threshold_kb, limits.malloc_arenas)  # before any bundle is loaded
    app.state.shelfrank_auth.announce()
    if load:
        await run_in_threadpool(state.load_initial)
    await run_in_threadpool(start_live, state)
    await run_in_threadpool(start_catalog, state)
    await run_in_threadpool(start_merchandising, state)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    watcher = asyncio.create_task(_follow_reloads(state, limits.reload_poll_seconds))
    _drain_before_exit(state, limits.drain_seconds)
    start_page_threads(app, min(limits.page_threads, limits.max_in_flight))
    yield
    stop_page_threads(app)
    watcher.cancel()
    with suppress(asyncio.CancelledError):
        await watcher
    stop_merchandising(state)
    stop_catalog(state)
    stop_live(state)
    state.exposures.close()
    state.event_log.close()
    if state.engine:
        state.engine.close()


async def _follow_reloads(state: ServiceState, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(state.follow_control)
        except Exception:  # never let the watcher die
            log.exception("following the reload control file failed")


def _drain_before_exit(state: ServiceState, seconds: float) -> None:
    """At the first SIGTERM mark the worker draining (``/readyz`` 503) and hand the signal to
    the server's own handler ``seconds`` later; a second SIGTERM hands it on at once.

    Only where the server installed a Python handler in this (main) thread, as uvicorn does."""
    if threading.current_thread() is not threading.main_thread():
        return
    server_handler = signal.getsignal(signal.SIGTERM)
    if not callable(server_handler):
        return
    loop = asyncio.get_running_loop()

    def on_sigterm(signum, frame) -> None:
        if state.draining:
            server_handler(signum, frame)
            return
        state.draining = True
        log.warning("SIGTERM: /readyz answers 503, draining in %s s", seconds)
        loop.call_soon_threadsafe(loop.call_later, seconds, server_handler, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
