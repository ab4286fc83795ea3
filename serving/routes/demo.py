"""The demo page (``/``, ``/static``) and what it asks the service for (``/v1/demo/users``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from ranking.engine import Engine
from ranking.features import FeatureSnapshot
from serving.api_examples import DEMO_USERS_OK, ok
from serving.dependencies import engine
from serving.responses import errors
from serving.schemas import DemoUsers

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# the homepage's time-slot themes by local hour, as the demo page labels its hour picker
THEMES = {"06-12": "grains & cooking oil", "12-18": "food & daily goods", "18-06": "digital & beauty"}

router = APIRouter()


def static_files() -> StaticFiles:
    """The page's scripts and styles, mounted at ``/static``."""
    return StaticFiles(directory=STATIC_DIR)


def most_active_users(snapshot: FeatureSnapshot, n: int) -> list[int]:
    """The ``n`` users with the most store visits in the snapshot (ties in snapshot order)."""
    ids = snapshot.users.ids
    visits = snapshot.store_visits
    if visits is not None and len(visits.keys):
        rows = visits.keys // visits.stride
        activity = np.bincount(rows, weights=visits.values, minlength=len(ids))[: len(ids)]
        ids = ids[np.argsort(-activity, kind="stable")]
    return [int(u) for u in ids[:n]]


@router.get("/", include_in_schema=False)
def demo_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")


@router.get("/v1/demo/users", response_model=DemoUsers, tags=["demo"],
            responses={**ok(**DEMO_USERS_OK), **errors(422, 503)})
def demo_users(n: int = Query(24, ge=1, le=200), eng: Engine = Depends(engine)) -> dict:
    """Users to pick on the demo page (the most active ones in the bundle's snapshot)."""
    return {"users": most_active_users(eng.snapshot, n), "hours": THEMES}
