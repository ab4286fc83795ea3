"""The HTTP protocol uvicorn runs: its httptools parser with a cap and a clock on request heads.

uvicorn buffers a request's line and headers without limit (httptools hands every piece
of an unfinished header to Python, which keeps it) and gives a connection no deadline
before its first request nor while its headers trickle in, so a client holding 16
unfinished 32 MB headers doubled a worker's memory and 4,000 silent connections were
held for good. :class:`GuardedHttpToolsProtocol` counts the bytes of each request head
(from its first byte to the end of its headers): past ``serving.max_header_bytes`` the
connection gets 431 and is closed; a head not complete within
``serving.header_timeout_seconds`` of the connection opening or of its first byte is
closed with 408. ``shelfrank serve`` runs uvicorn with it (``http=PROTOCOL``); the
limits are set by :func:`configure` when a worker builds its app, before any
connection. It also counts the worker's open connections and, with several workers, closes one
after its response when the worker holds more than its share (:mod:`serving.connection_balance`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ranking.settings import ServingSettings
from serving import connection_balance

PROTOCOL = "serving.protocol:GuardedHttpToolsProtocol"


@dataclass
class HeadLimits:
    max_bytes: int = 16_384
    seconds: float = 10.0


LIMITS = HeadLimits()


def configure(serving: ServingSettings) -> None:
    """Use the settings' head limits for every connection this worker accepts from now on."""
    LIMITS.max_bytes = serving.max_header_bytes
    LIMITS.seconds = serving.header_timeout_seconds
    if serving.connection_balance:
        connection_balance.start(serving.port, serving.connection_balance_seconds,
                                 serving.connection_balance_slack, serving.connection_balance_tolerance)


def _raw_response(status: bytes, reason: str) -> bytes:
    body = reason.encode()
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size cap and a deadline on each request head."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if connection_balance.SHARE is not None:
            connection_balance.SHARE.opened()
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._start_head_clock()

    def _start_head_clock(self) -> None:
        self._head_timer = self.loop.call_later(LIMITS.seconds, self._head_timed_out)

    def _stop_head_clock(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.write(_raw_response(b"408 Request Timeout", "request headers not received "
                                               f"within {LIMITS.seconds} s (serving.header_timeout_seconds)"))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._in_head and self.cycle is not None and self.cycle.response_complete:
            self._in_head = True  # the first byte of the next request on a kept-alive connection
            self._head_bytes = 0
            self._stop_head_clock()
            self._start_head_clock()
        super().data_received(data)  # at most one read's worth past the cap is ever parsed
        if not self._in_head or self.transport.is_closing():
            return  # the head ended in this read: the rest was body, which has its own limit
        self._head_bytes += len(data)
        if self._head_bytes > LIMITS.max_bytes:
            self._stop_head_clock()
            self.transport.write(_raw_response(b"431 Request Header Fields Too Large",
                                               f"request line and headers over {LIMITS.max_bytes} "
                                               "bytes (serving.max_header_bytes)"))
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_clock()
        super().on_headers_complete()
        share = connection_balance.SHARE
        if share is not None and not self.pipeline and share.should_shed():
            self.cycle.keep_alive = False  # `connection: close` on this response, as uvicorn's shutdown does

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        if connection_balance.SHARE is not None:
            connection_balance.SHARE.closed()
        super().connection_lost(exc)
