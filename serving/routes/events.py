"""``POST /v1/events``: impressions, clicks, carts and orders, durable once acknowledged.

The batch is checked whole (its size, then :func:`serving.event_checks.batch_problems`
against every loaded bundle: one bad row refuses it all, every problem named), appended
to the event log with one write and an fsync, and only then answered 200; a log that
cannot be written is a 503 with ``Retry-After``. The writer is authenticated
(:func:`serving.auth.writer`) and its name recorded with every line of the batch, and it
may write at most ``serving.write_rate_per_second`` events (``serving.write_burst`` at
once): beyond that a 429 with ``Retry-After``, nothing written.
"""

from __future__ import annotations

import logging
import os

from fastapi import APIRouter, BackgroundTasks, Body, Depends, HTTPException, Request

from ranking.engine import Engine
from ranking.event_log import EventLogUnavailableError
from serving.api_examples import EVENTS, EVENTS_OK, ok
from serving.auth import ServiceAuth, remote_address, service_auth, writer
from serving.dependencies import service_state
from serving.event_checks import batch_problems
from serving.rate_limit import retry_after
from serving.responses import WRITE_ERRORS
from serving.routing import Router
from serving.schemas import EventsAccepted, EventsBatch
from serving.side_effects import after_events
from serving.state import ServiceState
from serving.validation import check_event_count

log = logging.getLogger("shelfrank.serving")
router = APIRouter()


def loaded_engines(router: Router | None) -> list[Engine]:
    """Every distinct engine loaded (default and experiments'); none without a bundle, in
    which case the catalog checks are skipped."""
    if router is None:
        return []
    return list({id(e): e for e in (router.default, *router.engines.values())}.values())


def unavailable_reason(exc: EventLogUnavailableError) -> str:
    """Why the log refused, without the paths its message names (those go to the service log)."""
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno)
    if "serving.events_min_free_mb" in str(exc):
        return "free space is below serving.events_min_free_mb"
    return "see the service log"


def check_rate(auth: ServiceAuth, key: str, events: int) -> None:
    """429 with ``Retry-After`` when ``key`` has written its share; nothing is taken then."""
    wait = auth.writes.take(key, events)
    if wait:
        raise HTTPException(429, detail=f"over the write rate of {auth.writes.rate:g} events/s "
                                        f"(serving.write_rate_per_second): retry later",
                            headers=retry_after(wait))


@router.post("/v1/events", response_model=EventsAccepted, tags=["events"],
             responses={**ok(**EVENTS_OK), **WRITE_ERRORS})
def events(background: BackgroundTasks, request: Request, body: EventsBatch = Body(openapi_examples=EVENTS),
           client: str | None = Depends(writer), auth: ServiceAuth = Depends(service_auth),
           state: ServiceState = Depends(service_state)) -> dict:
    """Impressions, clicks, carts and orders in the data-contract shape; durable once 200.
    Needs a client's bearer token unless no token is configured (the demo)."""
    rows = {table: [item.model_dump() for item in getattr(body, table)]  # timestamps already epoch ms
            for table in EventsBatch.model_fields}
    total = sum(len(r) for r in rows.values())
    check_event_count(total, state.settings.serving.max_events_per_post)
    check_rate(auth, client or f"anonymous@{remote_address(request)}", total)
    problems = batch_problems(rows, loaded_engines(state.router), state.settings.serving)
    if problems:  # the whole batch is refused, every problem named
        raise HTTPException(422, detail=[{"loc": p.loc, "msg": p.msg, "type": "value_error"}
                                         for p in problems])
    try:
        accepted = state.event_log.append(rows, client=client)
    except EventLogUnavailableError as exc:
        log.error("events refused: %s", exc)  # the reason names paths: the log, not the caller
        raise HTTPException(503, detail=f"the event log cannot be written now ({unavailable_reason(exc)}); "
                                        "nothing was written, retry later",
                            headers={"Retry-After": "30"}) from exc
    background.add_task(after_events, accepted)
    return {"accepted": accepted}
