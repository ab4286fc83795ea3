"""What a FastAPI dependency's thread-pool hop costs: ``python -m bench.dependency_hops``.

FastAPI runs every plain ``def`` dependency in the thread pool (one handoff there and back per
dependency per request); an ``async def`` one runs on the event loop. This builds two apps with the
ranking routes' dependency chain (the state, the engine, the call's context, then a sync endpoint)
written both ways and drives each through its ASGI callable, printing CPU and wall ms per request.
The ranking routes use the async chain (:mod:`serving.dependencies`): one hop per page, the
endpoint's, instead of four.
"""

from __future__ import annotations

import asyncio
import time

from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import Response

ROUNDS, REQUESTS = 3, 2000


def chain_app(asynchronous: bool) -> FastAPI:
    """A sync endpoint behind three dependencies, ``async def`` or ``def``."""
    app = FastAPI()
    app.state.value = object()
    if asynchronous:
        async def state(request: Request) -> object:
            return request.app.state.value

        async def engine(s: object = Depends(state)) -> object:
            return s

        async def call(explain: bool = False, h: str | None = Header(None), e: object = Depends(engine),
                       s: object = Depends(state)) -> tuple:
            return e, s
    else:
        def state(request: Request) -> object:
            return request.app.state.value

        def engine(s: object = Depends(state)) -> object:
            return s

        def call(explain: bool = False, h: str | None = Header(None), e: object = Depends(engine),
                 s: object = Depends(state)) -> tuple:
            return e, s

    def page(c: tuple = Depends(call)) -> Response:
        return Response(b"{}", media_type="application/json")

    app.add_api_route("/page", page, methods=["POST"])
    return app


async def one_request(app: FastAPI) -> None:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/page", "raw_path": b"/page", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
             "state": {}}

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        return None

    await app(scope, receive, send)


async def measure() -> None:
    apps = {"def dependencies": chain_app(False), "async dependencies": chain_app(True)}
    for _ in range(ROUNDS):
        for name, app in apps.items():
            for _ in range(200):
                await one_request(app)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(REQUESTS):
                await one_request(app)
            print(f"{name:18s} cpu {1e3 * (time.process_time() - cpu) / REQUESTS:.3f} ms  "
                  f"wall {1e3 * (time.perf_counter() - wall) / REQUESTS:.3f} ms per request")


if __name__ == "__main__":
    asyncio.run(measure())
