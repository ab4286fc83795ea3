"""``GET /v1/merchant/stores/{store_id}/traffic``: a store's traffic report (operator token).

The store's exposure share over the last day and week against its category's average store,
its products' grade mix, the traffic policy's rules on its cards and what would raise it
(:mod:`ranking.merchant_traffic`), from the exposure log under ``serving.events_dir`` (what the
workers have flushed: at most ``BufferedAppender``'s half second behind) and the served
bundle's scores. The service has no merchant-scoped token yet, so the operator token guards
it; an unknown store is a 404 with the reason. The log is read per call: an operator's tool,
not a shopper's path.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.concurrency import run_in_threadpool

from ranking.engine import Engine
from ranking.merchant_traffic import read_exposures, store_traffic, tables_from_snapshot
from serving.api_examples import TRAFFIC_OK, ok
from serving.auth import store_scope
from serving.dependencies import engine, service_state
from serving.responses import OPERATOR_ERRORS, errors
from serving.schemas import MAX_ID
from serving.state import ServiceState

router = APIRouter()


def traffic_report(eng: Engine, state: ServiceState, store_id: int) -> dict:
    """The report of ``store_id`` from the served bundle and the event log (404 if unknown)."""
    settings = state.settings
    tables = tables_from_snapshot(eng.snapshot)
    try:
        return store_traffic(tables, read_exposures(str(state.events_dir)), store_id, settings.rules,
                             settings.scores)
    except KeyError as exc:
        raise HTTPException(404, detail=f"{exc.args[0]} of bundle {eng.version}") from exc


@router.get("/v1/merchant/stores/{store_id}/traffic", tags=["merchant"], response_model=None,
            responses={**ok(**TRAFFIC_OK), **OPERATOR_ERRORS, **errors(
                404, 422, 503, reasons={404: "the store is not in the served bundle's scores"})})
async def store_traffic_report(store_id: int = Path(ge=0, le=MAX_ID), eng: Engine = Depends(engine),
                               state: ServiceState = Depends(service_state),
                               caller: int | None = Depends(store_scope)) -> dict:
    """A store's exposure share (last day, last week) against its category's average store, its
    grade mix, the traffic policy's rules on its cards and what would raise it (docs/scores.md).
    The operator token reads any store's; a merchant's own token only its store's (403)."""
    if caller is not None and caller != store_id:
        raise HTTPException(403, detail=f"store {caller}'s merchant token reads only its own report")
    return await run_in_threadpool(traffic_report, eng, state, store_id)
