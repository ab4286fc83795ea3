"""``POST /v1/events``: impressions, clicks, carts and orders, durable once acknowledged.

The batch is checked whole (its size, then :func:`serving.event_checks.batch_problems`
against every loaded bundle: one bad row refuses it all, every problem named), appended
to the event log with one write and an fsync, and only then answered 200; a log that
cannot be written is a 503 with ``Retry-After``.
"""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException

from ranking.engine import Engine
from ranking.event_log import EventLogUnavailableError
from serving.dependencies import service_state
from serving.event_checks import batch_problems
from serving.routing import Router
from serving.schemas import EventsAccepted, EventsBatch
from serving.side_effects import after_events
from serving.state import ServiceState
from serving.validation import check_event_count

router = APIRouter()


def loaded_engines(router: Router | None) -> list[Engine]:
    """Every distinct engine loaded (default and experiments'); none without a bundle, in
    which case the catalog checks are skipped."""
    if router is None:
        return []
    return list({id(e): e for e in (router.default, *router.engines.values())}.values())


@router.post("/v1/events", response_model=EventsAccepted, tags=["events"])
def events(body: EventsBatch, background: BackgroundTasks,
           state: ServiceState = Depends(service_state)) -> dict:
    """Impressions, clicks, carts and orders in the data-contract shape; durable once 200."""
    rows = {table: [item.model_dump() for item in getattr(body, table)]  # timestamps already epoch ms
            for table in EventsBatch.model_fields}
    check_event_count(sum(len(r) for r in rows.values()), state.settings.serving.max_events_per_post)
    problems = batch_problems(rows, loaded_engines(state.router), state.settings.serving)
    if problems:  # the whole batch is refused, every problem named
        raise HTTPException(422, detail=[{"loc": p.loc, "msg": p.msg, "type": "value_error"}
                                         for p in problems])
    try:
        accepted = state.event_log.append(rows, client=None)  # identity: authentication (later)
    except EventLogUnavailableError as exc:
        raise HTTPException(503, detail=str(exc), headers={"Retry-After": "30"}) from exc
    background.add_task(after_events, accepted)
    return {"accepted": accepted}
