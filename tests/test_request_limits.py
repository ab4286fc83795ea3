"""The one request-limits layer (serving/limits.py) answers as the three middlewares it replaced
(body deadline outermost, then the size limit, then the timing): the 413 and 408 replace whatever
the app answered, a stall wins over nothing else, the timing records the status the app itself
answered (500 when it failed), and a Content-Length over the limit is refused before the app runs."""

from __future__ import annotations

import asyncio

import pytest

from serving import metrics
from serving.limits import RequestLimitsMiddleware


class _Route:
    path = "/t/limits"


def _scope(headers=()) -> dict:
    return {"type": "http", "method": "POST", "path": "/t/limits", "headers": list(headers)}


def _sample(metric, *labels) -> float:
    found = metric._metrics.get(labels)
    if found is None:
        return 0.0
    return found._value.get() if hasattr(found, "_value") else found._sum.get()


async def _reading_app(scope, receive, send):
    """Reads the body as a framework does: a read error becomes its own 400."""
    scope["route"] = _Route()
    try:
        while (await receive()).get("more_body"):
            pass
        status, body = 200, b"ok"
    except Exception:
        status, body = 400, b"error parsing the body"
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _run(app, scope, messages, stall_after=None):
    sent, queue = [], list(messages)

    async def receive():
        if not queue or (stall_after is not None and len(messages) - len(queue) >= stall_after):
            await asyncio.sleep(3600)
        return queue.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _status(sent) -> int:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1
    return starts[0]["status"]


def test_a_chunked_body_over_the_limit_is_413_and_timed_as_the_apps_own_answer():
    app = RequestLimitsMiddleware(_reading_app, seconds=5, max_bytes=10)
    before = _sample(metrics.RESPONSES, "/t/limits", "400")
    chunks = [{"type": "http.request", "body": b"x" * 6, "more_body": True}] * 3
    sent = _run(app, _scope(), chunks)
    assert _status(sent) == 413 and b"10-byte limit (serving.max_body_bytes)" in sent[-1]["body"]
    assert _sample(metrics.RESPONSES, "/t/limits", "400") == before + 1  # the app's, as before


def test_a_stalled_body_is_408_closed_and_counted():
    app = RequestLimitsMiddleware(_reading_app, seconds=0.05, max_bytes=1000)
    timeouts = metrics.TIMEOUTS._value.get()
    sent = _run(app, _scope(), [{"type": "http.request", "body": b"x", "more_body": True}] * 2, stall_after=1)
    assert _status(sent) == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert metrics.TIMEOUTS._value.get() == timeouts + 1


def test_a_declared_length_over_the_limit_is_413_before_the_app_runs():
    ran = []

    async def app(scope, receive, send):
        ran.append(scope)

    limits = RequestLimitsMiddleware(app, seconds=5, max_bytes=10, paths={"/t/limits": (20, "own.limit")})
    sent = _run(limits, _scope([(b"content-length", b"21")]), [])
    assert _status(sent) == 413 and b"20-byte limit (own.limit)" in sent[-1]["body"] and not ran
    assert _status(_run(limits, _scope([(b"content-length", b"x")]), [])) == 400 and not ran


def test_a_failing_app_is_timed_as_500_and_counted_as_an_error():
    async def app(scope, receive, send):
        scope["route"] = _Route()
        raise RuntimeError("boom")

    errors = _sample(metrics.ERRORS, "/t/limits")
    with pytest.raises(RuntimeError):
        _run(RequestLimitsMiddleware(app, seconds=5, max_bytes=10), _scope(), [])
    assert _sample(metrics.ERRORS, "/t/limits") == errors + 1
    assert _sample(metrics.RESPONSES, "/t/limits", "500") >= 1


def test_an_ordinary_request_passes_through_and_is_timed():
    app = RequestLimitsMiddleware(_reading_app, seconds=5, max_bytes=100)
    before = _sample(metrics.RESPONSES, "/t/limits", "200")
    sent = _run(app, _scope([(b"content-length", b"3")]), [{"type": "http.request", "body": b"abc"}])
    assert _status(sent) == 200 and sent[-1]["body"] == b"ok"
    assert _sample(metrics.RESPONSES, "/t/limits", "200") == before + 1
    assert _sample(metrics.REQUEST_SECONDS, "/t/limits", "POST") > 0
