"""The ranking pages' fast path (:mod:`serving.page_route`): it takes only what FastAPI would read
the same way, validates bodies exactly as FastAPI does, and holds a cancelled page until it ends."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.requests import ClientDisconnect, Request

from ranking.experiments import VARIANT_HEADER
from serving.page_route import (
    PAGE_THREADS,
    PageRoute,
    PageThreads,
    in_page_thread,
    parse_body,
    plain_request,
    read_body,
    start_page_threads,
    stop_page_threads,
)
from serving.schemas import RerankRequest, SearchRequest

JSON = (b"content-type", b"application/json")
VARIANT = VARIANT_HEADER.lower().encode()


def _scope(query: bytes = b"", headers: tuple = (JSON,)) -> dict:
    return {"query_string": query, "headers": list(headers)}


def test_a_plain_request_gives_explain_and_the_variant_header() -> None:
    assert plain_request(_scope()) == (False, None)
    assert plain_request(_scope(b"explain=true")) == (True, None)
    assert plain_request(_scope(b"explain=false", (JSON, (VARIANT, b"exp:b")))) == (False, "exp:b")


@pytest.mark.parametrize("scope", [
    _scope(b"explain=yes"), _scope(b"explain=true&x=1"), _scope(b"x=1"),  # FastAPI parses these
    _scope(headers=()), _scope(headers=((b"content-type", b"text/plain"),)),
    _scope(headers=((b"content-type", b"application/json; charset=utf-8"),)),
    _scope(headers=(JSON, JSON)), _scope(headers=(JSON, (VARIANT, b""))),
    _scope(headers=(JSON, (VARIANT, b"a:b"), (VARIANT, b"c:d"))),
])
def test_anything_else_is_left_to_fastapi(scope: dict) -> None:
    assert plain_request(scope) is None


def test_a_body_is_validated_as_fastapi_validates_it() -> None:
    body = parse_body(SearchRequest, b'{"query": "rice", "user_id": 3, "page_size": 20}')
    assert body == SearchRequest.model_validate({"query": "rice", "user_id": 3, "page_size": 20})
    assert parse_body(RerankRequest, b'{"surface": "homepage", "candidates": [1, 2]}').candidates == [1, 2]
    for bad in (b"", b"{", b"[1]", b'{"query": "rice", "page_size": "20"}', b'{"query": "rice", "x": 1}',
                b'{"query": NaN}', '{"query": "\u7c73"}'.encode("utf-16"), b'{"query": "\\ud800"}',
                b'{"query": "rice", "user_id": 18446744073709551616}'):  # orjson: a float, json: an int
        assert parse_body(SearchRequest, bad) is None  # FastAPI's handler answers these


def test_a_cancelled_page_is_waited_for_before_the_cancellation_is_raised() -> None:
    finished = threading.Event()

    def page() -> str:
        time.sleep(0.2)
        finished.set()
        return "page"

    async def run() -> None:
        with ThreadPoolExecutor(1) as executor:
            task = asyncio.create_task(in_page_thread(executor, page))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert finished.is_set()  # the slot was held until the page ended
            assert await in_page_thread(executor, page) == "page"

    asyncio.run(run())


def test_a_page_returns_or_raises_in_the_awaiting_task_from_its_own_thread() -> None:
    ran: list[str] = []

    def page(fail: bool) -> str:
        ran.append(threading.current_thread().name)
        if fail:
            raise KeyError("no such page")
        return "page"

    async def run() -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="pages") as executor:
            assert await in_page_thread(executor, page, False) == "page"
            with pytest.raises(KeyError, match="no such page"):
                await in_page_thread(executor, page, True)

    asyncio.run(run())
    assert ran == ["pages_0", "pages_0"]


def test_plain_requests_rank_on_the_page_threads_and_the_rest_through_fastapi() -> None:
    seen: list[tuple[str, object]] = []

    class Route(PageRoute):
        def make_call(explain, variant, engine, state):  # noqa: N805 (a plain function, as RankingCall)
            return explain, variant

    def endpoint(body: SearchRequest, call: tuple = Depends(lambda: (False, None))) -> JSONResponse:
        seen.append((threading.current_thread().name, call))
        return JSONResponse({"query": body.query})

    app = FastAPI()
    app.state.shelfrank = type("State", (), {"engine": object()})()
    router = APIRouter()
    router.add_api_route("/page", endpoint, methods=["POST"], route_class_override=Route)
    app.include_router(router)
    start_page_threads(app, 2)
    try:
        with TestClient(app) as client:
            assert client.post("/page?explain=true", json={"query": "rice"}).json() == {"query": "rice"}
            bad = client.post("/page", json={"query": "rice", "page_size": "20"})
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "page_size"]
    finally:
        stop_page_threads(app)
    assert seen[0][0].startswith("shelfrank-page") and seen[0][1] == (True, None)
    assert getattr(app.state, PAGE_THREADS) is None


def _part(body: bytes, more: bool = False) -> dict:
    return {"type": "http.request", "body": body, "more_body": more}


@pytest.mark.parametrize("messages", [
    [_part(b'{"query": "rice"}')],
    [_part(b"ab", True), _part(b"", True), {"type": "http.request"}],
    [_part(b"ab", True), {"type": "other"}, _part(b"c")],
    [_part(b"ab", True), {"type": "http.disconnect"}],
])
def test_read_body_leaves_the_request_as_starlettes_body_leaves_it(messages: list) -> None:
    """The same bytes or the same ``ClientDisconnect``, and then the same state: the body kept for
    FastAPI's handler (``body()`` and ``stream()`` give it again), the stream consumed, the
    disconnect noted."""

    async def read(reader) -> tuple:
        queue = list(messages)

        async def receive() -> dict:
            return queue.pop(0)

        request = Request({"type": "http", "method": "POST", "headers": []}, receive)
        try:
            got = await reader(request)
        except ClientDisconnect:
            return ClientDisconnect, request._stream_consumed, request._is_disconnected, queue
        state = (request._stream_consumed, request._is_disconnected, request._body)
        return got, state, await request.body(), [c async for c in request.stream()], queue

    assert asyncio.run(read(read_body)) == asyncio.run(read(Request.body))


def test_a_plain_request_reads_its_body_without_starlettes_stream(monkeypatch) -> None:
    monkeypatch.setattr(Request, "stream", lambda self: pytest.fail("Request.stream on the fast path"))
    app = FastAPI()
    app.state.shelfrank = type("State", (), {"engine": object()})()

    class Route(PageRoute):
        def make_call(explain, variant, engine, state):  # noqa: N805 (a plain function, as RankingCall)
            return explain

    def endpoint(body: SearchRequest, call: bool = Depends(lambda: False)) -> JSONResponse:
        return JSONResponse({"query": body.query, "explain": call})

    app.router.add_api_route("/page", endpoint, methods=["POST"], route_class_override=Route)
    start_page_threads(app, 1)
    try:
        with TestClient(app) as client:
            assert client.post("/page?explain=true", json={"query": "rice"}).json() == \
                {"query": "rice", "explain": True}
    finally:
        stop_page_threads(app)


def test_page_threads_run_each_job_once_on_their_own_named_threads_and_stop_after_them() -> None:
    """A job that raises is logged and its thread goes on; a finished job is not held by its thread
    (a weak reference to what it closed over dies); ``shutdown`` runs what was handed in first."""
    import gc
    import weakref

    threads = PageThreads(3, "pages")
    ran, gate = [], threading.Event()

    class Held:
        pass

    held = Held()
    gone = weakref.ref(held)

    def job(n: int, obj: Held | None = None) -> None:
        gate.wait(5)
        ran.append((n, threading.current_thread().name))

    threads.submit(lambda: 1 / 0)
    for n in range(6):
        threads.submit(lambda n=n, obj=held: job(n, obj))
    del held
    gate.set()
    deadline = time.monotonic() + 5
    while len(ran) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    gc.collect()
    assert gone() is None  # the threads wait for the next job holding none of the last
    threads.submit(lambda: ran.append((6, threading.current_thread().name)))
    threads.shutdown(wait=True)
    assert sorted(n for n, _ in ran) == list(range(7))
    assert {name for _, name in ran} <= {"pages_0", "pages_1", "pages_2"}
    assert not any(t.is_alive() for t in threads._threads)
