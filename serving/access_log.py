"""The access log: one JSON line per request on the ``shelfrank.access`` logger.

A line holds the time (UTC, ISO 8601), the method, the route's path template (``/v1/events``,
``/v1/products/{product_id}/similar``; ``unmatched`` for no route, so ids and probes do not
spread over the log), the status, the latency in milliseconds, the caller's name (a client's,
``operator``, or ``anonymous``: set by :mod:`serving.auth`) and the remote address. Never a
header, a token, a query string or a body. ``serving.access_log=false`` turns it off.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

from serving.auth import CLIENT_SCOPE_KEY
from serving.limits import observed

access_log = logging.getLogger("shelfrank.access")


def access_line(scope: dict, status: int, seconds: float) -> str:
    """The JSON line of one request (a pure function of the ASGI scope after the app ran)."""
    route = scope.get("route")
    client = scope.get("client")
    return orjson.dumps({
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "method": scope.get("method", ""),
        "path": getattr(route, "path", "unmatched"),
        "status": status,
        "latency_ms": round(seconds * 1000, 3),
        "client": scope.get(CLIENT_SCOPE_KEY) or "anonymous",
        "remote": client[0] if client else None,
    }).decode()


def ensure_handler() -> None:
    """Lines go to standard error unless logging is already configured for the logger (uvicorn
    configures only its own loggers, so without this INFO lines would go nowhere)."""
    if not access_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.propagate = False
    if access_log.level == logging.NOTSET:
        access_log.setLevel(logging.INFO)


class AccessLogMiddleware:
    """Pure ASGI: times the request and logs its line once it is answered (or has failed: 500)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        await observed(self.app, scope, receive, send,
                       lambda status, seconds: access_log.info(access_line(scope, status, seconds)))
