"""What a route needs from the running service, as FastAPI dependencies.

The :class:`~serving.state.ServiceState` lives on ``app.state.shelfrank`` (set by
``create_app``); routes reach it, the engine it serves and the admin check only through
these functions, so a route module holds no state of its own.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Header, HTTPException, Request

from ranking.engine import Engine
from serving.state import ServiceState


def service_state(request: Request) -> ServiceState:
    """The service's state (engine, router, event log) of the app serving this request."""
    return request.app.state.shelfrank


def engine(state: ServiceState = Depends(service_state)) -> Engine:
    """The engine serving now; 503 with the reason while no bundle is loaded."""
    current = state.engine
    if current is None:
        raise HTTPException(503, detail=state.load_error or "no bundle loaded")
    return current


def admin(authorization: str | None = Header(None),
          state: ServiceState = Depends(service_state)) -> None:
    """``Authorization: Bearer <serving.admin_token>``, compared in constant time: 401
    without it, 403 with a wrong token or when no token is configured."""
    token = state.settings.serving.admin_token.get_secret_value()
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, detail="admin endpoints need 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not token:
        raise HTTPException(403, detail="admin is disabled: set serving.admin_token")
    if not hmac.compare_digest(authorization[7:].encode(), token.encode()):
        raise HTTPException(403, detail="wrong admin token")
