"""What a route needs from the running service, as FastAPI dependencies.

The :class:`~serving.state.ServiceState` lives on ``app.state.shelfrank`` (set by
``create_app``); routes reach it and the engine it serves only through these functions
(and who is calling through :mod:`serving.auth`), so a route module holds no state of its own.
The ranking pages' fast path (:mod:`serving.page_route`) reads the same two attributes itself
for a plain request and leaves any other to these.

They are ``async``: FastAPI runs a plain ``def`` dependency in the thread pool, one handoff
(and GIL round trip) per dependency per request, which for these attribute reads cost more than
the reads; as coroutines they run on the event loop at once (nothing here blocks).
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request

from ranking.engine import Engine
from serving.state import ServiceState


async def service_state(request: Request) -> ServiceState:
    """The service's state (engine, router, event log) of the app serving this request."""
    return request.app.state.shelfrank


async def engine(state: ServiceState = Depends(service_state)) -> Engine:
    """The engine serving now; 503 while no bundle is loaded (the reason names paths, so it goes
    to the log and to ``/readyz`` with the operator token, not to every caller)."""
    current = state.engine
    if current is None:
        raise HTTPException(503, detail="no bundle loaded: GET /readyz with the operator token says why")
    return current
