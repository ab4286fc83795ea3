"""Backpressure: how many requests one worker works on at once, and how long others wait.

``AdmissionMiddleware`` (pure ASGI) lets at most ``serving.max_in_flight`` requests run
in a worker; a request that finds every slot taken waits in line at most
``serving.queue_timeout_seconds`` and is then shed with 503 and ``Retry-After``
(``serving.retry_after_seconds``) before its body is read or anything is parsed. So an
admitted request's latency is bounded by the queue deadline plus its own work, at any
offered load, instead of every request slowing down together as connections grow.
Liveness, readiness and metrics are never queued: an overloaded worker must still say
so. Shed requests are counted in ``shelfrank_shed_total``.
"""

from __future__ import annotations

import asyncio

import orjson

from ranking.in_flight import IN_FLIGHT
from serving import metrics

UNQUEUED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class AdmissionMiddleware:
    """At most ``max_in_flight`` requests at once; a wait past ``queue_seconds`` is a 503."""

    def __init__(self, app, max_in_flight: int, queue_seconds: float, retry_after: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.queue_seconds = queue_seconds
        self.retry_after = retry_after
        self._slots: asyncio.Semaphore | None = None  # made on first use, in the server's loop

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") in UNQUEUED_PATHS:
            return await self.app(scope, receive, send)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_in_flight)
        if not await self._admit():
            metrics.SHED.inc()
            return await self._shed(send)
        IN_FLIGHT.enter()  # counted: work for later pages waits for none (ranking/in_flight.py)
        try:
            await self.app(scope, receive, send)
        finally:
            IN_FLIGHT.leave()
            self._slots.release()

    async def _admit(self) -> bool:
        if not self._slots.locked():
            await self._slots.acquire()  # a free slot: returns at once
            return True
        if self.queue_seconds <= 0:
            return False
        try:
            await asyncio.wait_for(self._slots.acquire(), self.queue_seconds)
        except TimeoutError:
            return False
        return True

    async def _shed(self, send) -> None:
        body = orjson.dumps({"detail": f"overloaded: {self.max_in_flight} requests in flight and none "
                                       f"finished within {self.queue_seconds} s (serving.max_in_flight, "
                                       "serving.queue_timeout_seconds); retry later"})
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"retry-after", str(self.retry_after).encode())]})
        await send({"type": "http.response.body", "body": body})
