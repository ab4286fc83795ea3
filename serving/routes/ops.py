"""Operations: liveness, readiness, Prometheus metrics, the bundle's manifest, admin reload."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ranking.bundle import BundleError
from ranking.engine import Engine
from serving import metrics
from serving.dependencies import admin, engine, service_state
from serving.schemas import ReloadRequest, ReloadResponse
from serving.state import ReloadNotRecordedError, ServiceState

router = APIRouter()


@router.get("/healthz", tags=["operations"], response_model=None)
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], response_model=None)
def readyz(state: ServiceState = Depends(service_state)) -> dict | Response:
    """Ready when a verified bundle is loaded and still on disk and the worker is not shutting
    down (503 with the reason otherwise). Each worker answers for itself."""
    reason = state.not_ready()
    if reason is not None:
        return Response(content=orjson.dumps({"ready": False, "reason": reason}),
                        status_code=503, media_type="application/json")
    return {"ready": True, "bundle_version": state.engine.version,
            "bundle_path": str(state.engine.bundle.path)}


@router.get("/metrics", tags=["operations"], response_model=None)
def prometheus() -> Response:
    """Prometheus exposition: latency per endpoint and stage, errors, bundle version."""
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)


@router.get("/v1/bundle", tags=["operations"], response_model=None)
def bundle(eng: Engine = Depends(engine)) -> dict:
    """The served bundle's manifest."""
    return eng.bundle.public_manifest


@router.post("/admin/reload", response_model=ReloadResponse, tags=["admin"],
             dependencies=[Depends(admin)])
async def reload(body: ReloadRequest | None = None,
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
