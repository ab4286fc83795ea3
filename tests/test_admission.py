"""Backpressure (issue 24, defect 5): past ``serving.max_in_flight`` a worker sheds with 503.

On the code before ``serving/admission.py`` every one of the concurrent requests below was
queued and answered 200, however long it waited (throughput levelled off and latency grew
with connections, never a 503): the first test fails there.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx2
import pytest

from ranking.in_flight import IN_FLIGHT
from ranking.settings import load_settings
from serving.admission import AdmissionMiddleware
from serving.app import create_app


def _app(models: Path, events: Path, **serving: str):
    overrides = [f"serving.bundle={models / 'latest'}", f"serving.events_dir={events}",
                 *[f"serving.{k}={v}" for k, v in serving.items()]]
    app = create_app(load_settings(overrides), load=False)
    app.state.shelfrank.load_initial()
    return app


async def _burst(app, n: int, path: str, body: dict | None) -> list[tuple[int, dict, float]]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
        async def one():
            started = time.perf_counter()
            r = await (client.post(path, json=body) if body is not None else client.get(path))
            return r.status_code, dict(r.headers), time.perf_counter() - started
        return await asyncio.gather(*[one() for _ in range(n)])


def test_a_burst_past_the_cap_is_shed_with_503_and_retry_after(small_models, tmp_path):
    app = _app(small_models, tmp_path / "events", max_in_flight="2", queue_timeout_seconds="0.0",
               retry_after_seconds="3")
    body = {"surface": "homepage", "candidates": list(range(1, 400)), "page_size": 50}
    results = asyncio.run(_burst(app, 24, "/v1/rerank", body))
    statuses = [s for s, _, _ in results]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 2, "the slots were used"
    assert statuses.count(503) >= 1, "nothing was shed: no backpressure"
    for status, headers, _ in results:
        if status == 503:
            assert headers["retry-after"] == "3"


def test_probes_are_never_queued_behind_a_full_worker(small_models, tmp_path):
    app = _app(small_models, tmp_path / "events", max_in_flight="1", queue_timeout_seconds="0.0")
    results = asyncio.run(_burst(app, 16, "/readyz", None))
    assert [s for s, _, _ in results] == [200] * 16


def test_a_request_waits_at_most_the_queue_deadline_then_is_shed():
    """The middleware alone, over an app that holds each request 0.5 s: with one slot, a
    second request waits 0.1 s (the deadline) and is shed, it does not wait the 0.5 s."""
    async def slow_app(scope, receive, send):
        await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = AdmissionMiddleware(slow_app, max_in_flight=1, queue_seconds=0.1, retry_after=1)
    results = asyncio.run(_burst(app, 2, "/v1/search", {}))
    by_status = {s: t for s, _, t in results}
    assert set(by_status) == {200, 503}
    assert by_status[503] < 0.4, f"shed after {by_status[503]:.2f} s, past the 0.1 s deadline"
    assert IN_FLIGHT.count == 0 and IN_FLIGHT.idle.is_set()


@pytest.mark.parametrize("queue", [0.0, 2.0])
def test_every_admitted_request_is_served_when_the_queue_can_hold_them(queue):
    async def quick_app(scope, receive, send):
        await asyncio.sleep(0.01)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = AdmissionMiddleware(quick_app, max_in_flight=4, queue_seconds=queue, retry_after=1)
    statuses = [s for s, _, _ in asyncio.run(_burst(app, 40, "/v1/search", {}))]
    if queue:
        assert statuses == [200] * 40  # 40 x 10 ms over 4 slots is 0.1 s, inside the deadline
    else:
        assert statuses.count(200) >= 4 and set(statuses) <= {200, 503}
