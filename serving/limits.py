"""Pure-ASGI middleware: refuse oversized or stalled bodies before parsing; time every request.

:class:`RequestLimitsMiddleware` is one layer doing three things in a fixed order. The size
limit answers 413 from the ``Content-Length`` header alone, and for a chunked body stops
reading (413) as soon as it passes the limit, so an oversized body is never buffered or
parsed. The timing records latency per route template and status in the Prometheus metrics,
and counts 5xx as errors. The body deadline gives each read of a request body
``serving.body_timeout_seconds``: a client that stops sending mid-body gets 408 and its
connection is closed, so it holds neither a slot nor a graceful shutdown (the header read
timeout is the server protocol's: :mod:`serving.protocol`)"""

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


class BodyStalledError(Exception):
    pass


class _Exchange:
    """One request's state in :class:`RequestLimitsMiddleware`: ``limited_receive`` is the app's
    ``receive``, with the read deadline and then the size limit applied to each read;
    ``tracking_send`` is the app's ``send``, through the timing's capture, the limit's and then the
    deadline's rewrites, in the order the three separate middlewares applied them. (Not named
    ``receive``/``send``: tests/test_openapi_docs.py follows calls by name.)"""

    __slots__ = ("_receive", "_send", "body_done", "limit", "limit_started", "over", "seconds", "seen",
                 "setting", "stalled", "status", "timeout_started")

    def __init__(self, receive, send, seconds: float, limit: int, setting: str) -> None:
        self._receive, self._send, self.seconds = receive, send, seconds
        self.limit, self.setting = limit, setting
        self.seen = 0
        self.over = False  # the body passed the limit: whatever the app answers, the caller gets 413
        self.limit_started = self.body_done = self.stalled = self.timeout_started = False
        self.status = 500  # the app's own status, as the timing saw it (500: it failed)

    async def limited_receive(self):
        if self.body_done:  # after the body only a disconnect can come: no deadline on waiting for it
            message = await self._receive()
        else:
            try:  # a deadline on this task, not wait_for's extra task (18 -> 7 µs a read)
                async with asyncio.timeout(self.seconds):
                    message = await self._receive()
            except TimeoutError:
                self.stalled = True
                metrics.TIMEOUTS.inc()
                raise BodyStalledError from None
            self.body_done = message["type"] != "http.request" or not message.get("more_body", False)
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.over = True
                raise BodyTooLargeError
        return message

    async def tracking_send(self, message) -> None:
        start = message["type"] == "http.response.start"
        if start:
            self.status = message["status"]
        if self.over:  # FastAPI turns the read error into a 400 "error parsing the body": not that
            if start and not self.limit_started:
                self.limit_started = True
                await self.too_large()
            return
        if start:
            self.limit_started = True
        await self.guarded_send(message)

    async def guarded_send(self, message) -> None:
        """The deadline's side of a response: once the body stalled, only the 408 goes out."""
        if self.stalled:
            if not self.timeout_started:
                self.timeout_started = True
                await self.timed_out()
            return  # the app's own answer to the stall is dropped
        self.timeout_started = self.timeout_started or message["type"] == "http.response.start"
        await self._send(message)

    async def too_large(self) -> None:
        await _reject(self.guarded_send, 413, f"body is over the {self.limit}-byte limit ({self.setting})")

    async def timed_out(self) -> None:
        await _reject(self._send, 408, f"request body stalled: no data for {self.seconds} s "
                                       "(serving.body_timeout_seconds)", close=True)


class RequestLimitsMiddleware:
    """A request's body deadline, its size limit and its timing, as one layer.

    The body deadline: each read must arrive within ``seconds`` (``serving.body_timeout_seconds``),
    else 408 and the connection closes. The stall is raised inside the app's ``receive``; a
    framework may turn that into its own error (FastAPI answers 400 "error parsing the body"), so
    the response is replaced by the 408 on its way out. The size limit: ``max_bytes``
    (``serving.max_body_bytes``) for every path but those of ``paths``: path -> (its own limit, the
    setting that names it), e.g. the merchandising import's; 413 from ``Content-Length`` alone, or
    as soon as a chunked body passes it. The timing: latency per route template and method, the
    responses per status and 5xx as errors, of the status the app answered (before a 408 or 413
    replaced it; 500 when it failed). These were three middlewares (the deadline outermost, the
    timing innermost) that each wrapped ``receive`` and ``send``; one layer does the same in the
    same order with a third of the wrapping (``bench.http_path``)."""

    def __init__(self, app, seconds: float, max_bytes: int,
                 paths: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.seconds = seconds
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
        exchange = _Exchange(receive, send, self.seconds, limit, setting)
        with suppress(BodyStalledError):
            try:
                await self._timed(scope, exchange)
            except BodyTooLargeError:
                if not exchange.limit_started:
                    await exchange.too_large()
        if exchange.stalled and not exchange.timeout_started:
            await exchange.timed_out()

    async def _timed(self, scope, exchange: _Exchange) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, exchange.limited_receive, exchange.tracking_send)
        finally:
            record_timing(scope, exchange.status, time.perf_counter() - started)


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


def record_timing(scope, status: int, seconds: float) -> None:
    """A request's latency per route template and method, its response per status, a 5xx as an error."""
    endpoint = getattr(scope.get("route"), "path", "unmatched")
    metrics.observe(metrics.child(metrics.REQUEST_SECONDS, endpoint, scope.get("method", "")), seconds)
    metrics.count(metrics.child(metrics.RESPONSES, endpoint, str(status)))
    if status >= 500:
        metrics.ERRORS.labels(endpoint).inc()
