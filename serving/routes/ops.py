"""Operations: liveness, readiness, Prometheus metrics, the bundle's manifest, admin reload.

``/readyz`` answers everyone 200 or 503 with no path in the body (load balancers need no
token); its details (the bundle's path, why no bundle is loaded) go only to a caller with
the operator token. ``/metrics`` needs the operator token when one is set, ``/admin/*``
always (:mod:`serving.auth`).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from ranking.bundle import BundleError
from ranking.engine import Engine
from serving import metrics
from serving.api_examples import (
    BUNDLE_OK,
    HEALTH_OK,
    METRICS_OK,
    NOT_READY,
    READY_OK,
    RELOAD,
    RELOAD_OK,
    Health,
    Readiness,
    examples,
    ok,
)
from serving.auth import ServiceAuth, admin, operator_view, sees_details, service_auth
from serving.dependencies import engine, service_state
from serving.responses import OPERATOR_ERRORS, errors, json_errors
from serving.schemas import ReloadRequest, ReloadResponse
from serving.state import ReloadNotRecordedError, ServiceState

router = APIRouter()


@router.get("/healthz", tags=["operations"], response_model=None, responses=ok(Health, **HEALTH_OK))
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


def readiness(state: ServiceState, auth: ServiceAuth, details: bool) -> dict:
    """``/readyz``'s body: ready or not (a verified bundle loaded and still on disk, the worker
    not draining), the bundle version, whether writes are open; the bundle's path and the
    reason it is not ready only with ``details`` (the operator token)."""
    reason = state.not_ready()
    body: dict = {"ready": reason is None,
                  "bundle_version": state.engine.version if state.engine else None,
                  "writes": "open" if auth.open_writes else "authenticated"}
    if details:
        body["bundle_path"] = str(state.engine.bundle.path) if state.engine else None
        body["reason"] = reason
    elif reason is not None:  # a public body says why in words, naming no path
        body["reason"] = ("draining for shutdown" if state.draining
                          else "no bundle loaded (the operator token shows why)" if state.engine is None
                          else "the served bundle is gone from disk (the operator token shows which)")
    return body


NOT_READY_RESPONSE = {503: {"model": Readiness,
                            "description": "not ready: no bundle, its folder gone, or draining",
                            "content": {"application/json": {"examples": examples(**NOT_READY)}}}}


@router.get("/readyz", tags=["operations"], response_model=None,
            responses={**ok(Readiness, **READY_OK), **NOT_READY_RESPONSE, **OPERATOR_ERRORS, **errors(422)})
def readyz(state: ServiceState = Depends(service_state), auth: ServiceAuth = Depends(service_auth),
           details: bool = Depends(sees_details)) -> dict | Response:
    """Ready when a verified bundle is loaded (503 otherwise). The body names no path unless
    the caller sends the operator token (then: the bundle's path, the reason it is not ready)."""
    body = readiness(state, auth, details)
    if not body["ready"]:
        return Response(content=orjson.dumps(body), status_code=503, media_type="application/json")
    return body


@router.get("/metrics", tags=["operations"], response_model=None, dependencies=[Depends(operator_view)],
            response_class=PlainTextResponse,
            responses={**ok(None, "text/plain", **METRICS_OK),
                       **json_errors(400, 401, 403, 408, 413, 422, 429, 500)})
def prometheus() -> Response:
    """Prometheus exposition: latency per endpoint and stage, errors, bundle version. Needs the
    operator token when one is set."""
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)


@router.get("/v1/bundle", tags=["operations"], response_model=None,
            responses={**ok(**BUNDLE_OK), **errors(503)})
def bundle(eng: Engine = Depends(engine)) -> dict:
    """The served bundle's manifest."""
    return eng.bundle.public_manifest


@router.post("/admin/reload", response_model=ReloadResponse, tags=["admin"],
             dependencies=[Depends(admin)],
             responses={**ok(**RELOAD_OK), **OPERATOR_ERRORS, **errors(409, 422, 503)})
async def reload(body: ReloadRequest | None = Body(None, openapi_examples=RELOAD),
                 state: ServiceState = Depends(service_state)) -> dict:
    """Load a bundle, verify it fully, swap it in; a bad bundle is refused (409), a reload
    that cannot be recorded for the other workers swaps nothing (503)."""
    try:
        eng, previous = await run_in_threadpool(state.reload, body.bundle if body else None)
    except ReloadNotRecordedError as exc:
        raise HTTPException(503, detail=f"reload not done, every worker still serves "
                                        f"{state.engine.version if state.engine else 'nothing'}: {exc}",
                            headers={"Retry-After": "5"}) from exc
    except BundleError as exc:
        raise HTTPException(409, detail=f"bundle refused, still serving "
                                        f"{state.engine.version if state.engine else 'nothing'}: "
                                        f"{exc}") from exc
    return {"bundle_version": eng.version, "previous_version": previous, "path": str(eng.bundle.path)}
