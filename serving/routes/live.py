"""``GET /admin/live/shopper``: what this worker's live state knows of one shopper (admin only).

For operators and the tests: the shopper's recent items (newest first), their leaves, what
they bought, the cards they ignored and what the pages leave out, as the worker answering
sees them. 404 when the live state is off or degraded, or does not know the shopper; 503 with
the reason when its backend (Redis) fails on this read.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query

from ranking.live.errors import LiveBackendError
from serving.api_examples import LIVE_SHOPPER_OK, LiveShopper, ok
from serving.auth import admin
from serving.dependencies import service_state
from serving.responses import OPERATOR_ERRORS, errors
from serving.schemas import MAX_ID, SESSION_ID_MAX_CHARS
from serving.state import ServiceState

router = APIRouter()


SHOPPER_REASONS = {404: "the live state is off or degraded on this worker, or does not know the shopper",
                   503: "the live state's backend (Redis) failed on this read, or the worker is overloaded"}


@router.get("/admin/live/shopper", tags=["admin"], dependencies=[Depends(admin)], response_model=None,
            responses={**ok(LiveShopper, **LIVE_SHOPPER_OK), **OPERATOR_ERRORS,
                       **errors(404, 422, 503, reasons=SHOPPER_REASONS)})
def live_shopper(user_id: int | None = Query(None, ge=0, le=MAX_ID),
                 session_id: str | None = Query(None, min_length=1, max_length=SESSION_ID_MAX_CHARS,
                                                pattern=r"^[^\x00-\x1f\x7f]+$"),
                 state: ServiceState = Depends(service_state)) -> dict:
    """The live view of a user (their folded sessions included) or an anonymous session."""
    if user_id is None and session_id is None:
        raise HTTPException(422, detail=[{"loc": ["query", "user_id"], "msg": "give user_id or session_id",
                                          "type": "value_error"}])
    if state.live is None:
        raise HTTPException(404, detail="the live state is off or degraded on this worker")
    try:
        view = state.live.shopper_view(user_id, session_id)
    except LiveBackendError as exc:
        raise HTTPException(503, detail=f"the live state's backend failed: {exc}") from exc
    if not view.known:
        raise HTTPException(404, detail="the live state does not know this shopper")
    return {"user_id": view.user_id, "session_id": view.session_id, "now_ms": view.now_ms,
            "items": view.items.tolist(), "times_ms": view.times_ms.tolist(), "kinds": view.kinds.tolist(),
            "leaves": view.leaves.tolist(), "bought": view.bought.tolist(), "ignored": view.ignored.tolist(),
            "ignored_shown": view.ignored_shown.tolist(), "exclude": view.exclude.tolist()}
