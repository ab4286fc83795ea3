"""Pure-ASGI middleware: refuse oversized or stalled bodies before parsing; time every request.

``BodyLimitMiddleware`` answers 413 from the ``Content-Length`` header alone, and for a
chunked body stops reading (413) as soon as it passes the limit, so an oversized body is
never buffered or parsed. ``TimingMiddleware`` records latency per route template and
status in the Prometheus metrics, and counts 5xx as errors. ``BodyTimeoutMiddleware``
gives each read of a request body ``serving.body_timeout_seconds``: a client that stops
sending mid-body gets 408 and its connection is closed, so it holds neither a slot nor a
graceful shutdown (the header read timeout is the server protocol's:
:mod:`serving.protocol`).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress

import orjson

from serving import metrics


async def _reject(send, status: int, detail: str, close: bool = False) -> None:
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """``max_bytes`` (``serving.max_body_bytes``) for every path but those of ``paths``: path ->
    (its own limit, the setting that names it), e.g. the merchandising import's."""

    def __init__(self, app, max_bytes: int, paths: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, setting = self.paths.get(scope.get("path", ""), (self.max_bytes, "serving.max_body_bytes"))
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await _reject(send, 400, "invalid Content-Length")
                if declared > limit:
                    return await _reject(send, 413, f"body of {declared} bytes is over the "
                                                    f"{limit}-byte limit ({setting})")
        seen = 0
        over = False  # the body passed the limit: whatever the app answers, the caller gets 413
        started = False

        async def limited_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise BodyTooLargeError
            return message

        async def tracking_send(message):
            nonlocal started
            if over:  # FastAPI turns the read error into a 400 "error parsing the body": not that
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._too_large(send, limit, setting)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._too_large(send, limit, setting)

    async def _too_large(self, send, limit: int, setting: str) -> None:
        await _reject(send, 413, f"body is over the {limit}-byte limit ({setting})")


class BodyStalledError(Exception):
    pass


class BodyTimeoutMiddleware:
    """Each body read must arrive within ``seconds``; else 408 and the connection closes.

    The stall is raised inside the app's ``receive``; a framework may turn that into its own
    error (FastAPI answers 400 "error parsing the body"), so the response is replaced by the
    408 on its way out."""

    def __init__(self, app, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = body_done = stalled = False

        async def timed_receive():
            nonlocal body_done, stalled
            if body_done:  # after the body only a disconnect can come: no deadline on waiting for it
                return await receive()
            try:  # a deadline on this task, not wait_for's extra task (18 -> 7 µs a read)
                async with asyncio.timeout(self.seconds):
                    message = await receive()
            except TimeoutError:
                stalled = True
                metrics.TIMEOUTS.inc()
                raise BodyStalledError from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def guarded_send(message):
            nonlocal started
            if stalled:
                if not started:
                    started = True
                    await self._timed_out(send)
                return  # the app's own answer to the stall is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        with suppress(BodyStalledError):
            await self.app(scope, timed_receive, guarded_send)
        if stalled and not started:
            await self._timed_out(send)

    async def _timed_out(self, send) -> None:
        await _reject(send, 408, f"request body stalled: no data for {self.seconds} s "
                                 "(serving.body_timeout_seconds)", close=True)


async def observed(app, scope, receive, send, done) -> None:
    """Run ``app`` and then call ``done(status, seconds)`` once it has answered, or has failed
    (status 500): the one status-and-latency capture the timing and access-log middlewares share."""
    started = time.perf_counter()
    status = 500

    async def capture(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await app(scope, receive, capture)
    finally:
        done(status, time.perf_counter() - started)


class TimingMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        def record(status: int, seconds: float) -> None:
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            metrics.child(metrics.REQUEST_SECONDS, endpoint, scope.get("method", "")).observe(seconds)
            metrics.child(metrics.RESPONSES, endpoint, str(status)).inc()
            if status >= 500:
                metrics.ERRORS.labels(endpoint).inc()

        await observed(self.app, scope, receive, send, record)
