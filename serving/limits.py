"""Pure-ASGI middleware: refuse oversized bodies before parsing; time every request.

``BodyLimitMiddleware`` answers 413 from the ``Content-Length`` header alone, and for a
chunked body stops reading (413) as soon as it passes the limit, so an oversized body is
never buffered or parsed. ``TimingMiddleware`` records latency per route template and
status in the Prometheus metrics, and counts 5xx as errors.
"""

from __future__ import annotations

import time

import orjson

from serving import metrics


async def _reject(send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await _reject(send, 400, "invalid Content-Length")
                if declared > self.max_bytes:
                    return await _reject(send, 413, f"body of {declared} bytes is over the "
                                                    f"{self.max_bytes}-byte limit (serving.max_body_bytes)")
        seen = 0
        over = False  # the body passed the limit: whatever the app answers, the caller gets 413
        started = False

        async def limited_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise BodyTooLargeError
            return message

        async def tracking_send(message):
            nonlocal started
            if over:  # FastAPI turns the read error into a 400 "error parsing the body": not that
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._too_large(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send) -> None:
        await _reject(send, 413, f"body is over the {self.max_bytes}-byte limit "
                                 "(serving.max_body_bytes)")


class TimingMiddleware:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def capture(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            metrics.REQUEST_SECONDS.labels(endpoint, scope.get("method", "")).observe(
                time.perf_counter() - started)
            metrics.RESPONSES.labels(endpoint, str(status)).inc()
            if status >= 500:
                metrics.ERRORS.labels(endpoint).inc()
