"""A ranking page's fast path through FastAPI: the plain request parsed directly, the page
ranked on the service's own page threads.

FastAPI's request handler costs a page about as much as the no-op endpoint's whole answer
before the endpoint runs (``bench.http_path``; docs/serving.md, "The HTTP path's own cost"): it
solves the dependency tree (the state, the engine, the call's context: query, header and cookie
maps built per dependency, a cache key per dependency), decodes the body with ``json.loads``
behind an ``email.message`` content-type parse, validates it through the body field, and hops
to the worker thread through anyio (the async library lookup, the capacity limiter, run
variables). :class:`PageRoute` is an ``APIRoute`` (so OpenAPI, matching, the metrics' route
template and the exception handlers are FastAPI's, from the endpoint's signature as before)
whose handler takes the **plain** request itself:

* ``Content-Type: application/json`` exactly, a query string that is empty or just
  ``explain=true``/``explain=false``, at most one variant header (non-empty), an engine loaded;
* the body read once, decoded by ``orjson`` and validated by the model in Python mode, as
  FastAPI validates it (``json.loads`` then the model): the same values, the same strictness;
* the endpoint run on :data:`PAGE_THREADS` (``serving.page_threads`` threads, at most
  ``serving.max_in_flight``; admitted pages beyond them wait in arrival order on the threads'
  queue), and, like anyio, a cancelled request still waits for its page to finish before the
  slot is given back.

Anything else (another content type, other query parameters, a body that does not decode or
validate, no engine, no page threads outside the lifespan) goes to FastAPI's own handler,
which answers exactly as before: every 422 (the body's, the header's, the query's), 400 and 503
is FastAPI's. Only a well-formed request takes the short way, and it reaches the same endpoint
with the same arguments.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from ranking.experiments import VARIANT_HEADER

log = logging.getLogger("shelfrank.serving")

PAGE_THREADS = "shelfrank_page_threads"  # the :class:`PageThreads`' name on ``app.state``
EXPLAIN = {b"": False, b"explain=false": False, b"explain=true": True}  # query strings taken as is
_VARIANT = VARIANT_HEADER.lower().encode("latin-1")


class PageThreads:
    """``threads`` threads (named ``{name}_0``, ...) running what ``submit`` hands them, in turn,
    from one queue: ``submit`` is one ``SimpleQueue.put``. A ``ThreadPoolExecutor``'s ``submit``
    also makes a ``concurrent.futures.Future`` (a condition and its lock), takes two locks and
    its idle semaphore (~4.5 µs a page on the event loop), and a page never used that future
    (:func:`in_page_thread` settles its own). The threads start at once, not one by one as the
    executor grows, and are daemons; ``shutdown`` lets each finish what it runs and then stop.
    A job must not raise (:func:`in_page_thread`'s catches everything; one that does is logged)."""

    def __init__(self, threads: int, name: str) -> None:
        self._jobs: SimpleQueue = SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{n}", daemon=True)
                         for n in range(threads)]
        for thread in self._threads:
            thread.start()

    @property
    def count(self) -> int:
        """The threads started (what a page's concurrency is)."""
        return len(self._threads)

    def _work(self) -> None:
        get = self._jobs.get
        while True:
            job = get()
            if job is None:
                return
            try:
                job()
            except BaseException:
                log.exception("a page thread's job raised")
            del job  # no finished page is held while the thread waits for the next

    def submit(self, fn: Callable[[], None]) -> None:
        """Run ``fn()`` on the first free thread."""
        self._jobs.put(fn)

    def shutdown(self, wait: bool = False) -> None:
        """Every thread stops after the jobs already handed in; ``wait``: until they have."""
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


def start_page_threads(app: FastAPI, threads: int) -> None:
    """The page threads of ``app`` (``serving.page_threads``), for the lifespan."""
    setattr(app.state, PAGE_THREADS, PageThreads(threads, "shelfrank-page"))


def stop_page_threads(app: FastAPI) -> None:
    """Pages still ranking finish on their threads; new ones take FastAPI's path."""
    executor = getattr(app.state, PAGE_THREADS, None)
    setattr(app.state, PAGE_THREADS, None)
    if executor is not None:
        executor.shutdown(wait=False)


def plain_request(scope: dict) -> tuple[bool, str | None] | None:
    """(``explain``, the variant header) of a request FastAPI would read the same way, or None:
    a JSON body, no query but ``explain``, at most one non-empty variant header."""
    explain = EXPLAIN.get(scope.get("query_string", b""))
    if explain is None:
        return None
    json_body, variant = False, None
    for name, value in scope["headers"]:
        if name == b"content-type":
            if json_body or value != b"application/json":
                return None
            json_body = True
        elif name == _VARIANT:
            if variant is not None or not value:
                return None
            variant = value.decode("latin-1")  # as Starlette's Headers decode it
    return (explain, variant) if json_body else None


async def read_body(request: Request) -> bytes:
    """``await request.body()`` for a request not read yet, without Starlette's stream generator
    and its ``aclosing`` (~6 -> ~2 µs a page): ``Request.stream``'s receive loop inline, leaving
    the request as ``body()`` leaves it: the bytes on ``_body`` (FastAPI's handler, a fallback,
    reads them there), ``_stream_consumed`` after the last part, ``_is_disconnected`` and a
    ``ClientDisconnect`` on a disconnect."""
    chunks = []
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                request._stream_consumed = True
                break
        elif message["type"] == "http.disconnect":
            request._is_disconnected = True
            raise ClientDisconnect
    request._body = body = b"".join(chunks)
    return body


def parse_body(model: type[BaseModel], raw: bytes) -> BaseModel | None:
    """``raw`` as ``model``, validated as FastAPI validates a decoded body; None if it is not one
    (FastAPI's handler then answers, with its own 422 or 400)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _settle(done: asyncio.Future, result: Any, error: BaseException | None) -> None:
    """On the loop: the page's outcome into ``done`` (never cancelled: it is only shielded)."""
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)


async def in_page_thread(executor: PageThreads | ThreadPoolExecutor, fn: Callable[..., Response],
                         *args: Any) -> Response:
    """``fn(*args)`` on a page thread. A cancellation waits for the page to finish and is then
    raised, as anyio's ``run_sync`` does: admission's slot is held while the page ranks.

    The page settles one loop future itself (one ``call_soon_threadsafe``) instead of
    ``run_in_executor``'s chain of a concurrent future copied into a wrapped one."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def page() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task, raised there (no frame keeps it)
            loop.call_soon_threadsafe(_settle, done, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, done, result, None)

    executor.submit(page)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(done)
        except asyncio.CancelledError:
            if done.done():
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result


class PageRoute(APIRoute):
    """A ranking endpoint ``endpoint(body, call)`` with FastAPI's handler as the fallback;
    ``make_call(explain, variant_header, engine, state)`` builds the call's context (a subclass
    sets it: :class:`serving.routes.ranking.RankingRoute`)."""

    make_call: Callable[..., Any]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        fastapi_handler = super().get_route_handler()
        endpoint, make_call = self.endpoint, type(self).make_call
        model = self.body_field.field_info.annotation

        async def handle(request: Request) -> Response:
            plain = plain_request(request.scope)
            state = request.app.state.shelfrank
            engine = state.engine  # read once, as the dependency did: a reload swaps it
            executor = getattr(request.app.state, PAGE_THREADS, None)
            if plain is None or engine is None or executor is None:
                return await fastapi_handler(request)
            try:
                raw = await read_body(request)  # the bytes kept, as Starlette keeps them, for a fallback
            except Exception:  # too large, stalled, disconnected: FastAPI's 400, which the limits rewrite
                return await fastapi_handler(request)
            body = parse_body(model, raw)
            if body is None:
                return await fastapi_handler(request)
            return await in_page_thread(executor, endpoint, body, make_call(*plain, engine, state))

        return handle
