"""The catalog API: product upserts, bans and stores, durable once acknowledged (operator token).

``PUT /v1/catalog/products`` (a JSON list of product upserts), ``POST /v1/catalog/bans`` and
``PUT /v1/catalog/stores`` check the body against the contracts and the catalog being served
(:mod:`ranking.catalog_changes`: a 422 names every bad row and field, and nothing is written),
append it to the event log with one write and an fsync, and only then answer 200 with what was
accepted (new and updated). Every worker of every host applies it within about ``live.poll_ms``
(:mod:`ranking.live.catalog_follower`); with the embedded backend the answering worker applies
it before it answers, so its next page already shows it (Redis: after the applier's next poll).
More rows than ``catalog.max_rows_per_request`` (ids than
``catalog.max_ban_ids``) is a 413 with the limit. Bans need the operator token; product and store
upserts the operator token or a merchant's own (``serving.merchant_tokens``), which may touch only
its own store's rows: a row of another store is a 403 naming it, and nothing is written (401, 403).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException

from ranking.catalog_changes import (
    BANS,
    PRODUCT_CHANGES,
    STORE_CHANGES,
    CatalogInputError,
    check_ban,
    check_products,
    check_stores,
)
from ranking.event_log import EventLogUnavailableError
from ranking.live.catalog_follower import CatalogFollower
from ranking.live.catalog_state import CatalogView
from serving.api_examples import BAN_OK, CATALOG_OK, ok
from serving.auth import MERCHANT, OPERATOR, admin, store_scope
from serving.catalog_schemas import BAN_EXAMPLES, PRODUCT_EXAMPLES, STORE_EXAMPLES, BanApplied, CatalogApplied
from serving.dependencies import engine, service_state
from serving.responses import errors
from serving.routes.events import unavailable_reason
from serving.state import ServiceState

log = logging.getLogger("shelfrank.catalog")
router = APIRouter(tags=["catalog"])
CATALOG_ERRORS = errors(401, 403, 413, 422, 429, 503)
CATALOG_ANSWERS = {**ok(**CATALOG_OK), **CATALOG_ERRORS}


def _follower(state: ServiceState) -> CatalogFollower:
    if state.catalog is None:
        raise HTTPException(503, detail="the live catalog is not running on this worker",
                            headers={"Retry-After": "5"})
    return state.catalog


def _too_many(count: int, limit: int, what: str, setting: str) -> None:
    if count > limit:
        raise HTTPException(413, detail=f"{count} {what} in one request: at most {limit} ({setting}); "
                                        "send them in several requests")


def _refused(exc: CatalogInputError) -> HTTPException:
    return HTTPException(422, detail=[{"loc": p.loc, "msg": p.msg, "type": "value_error"}
                                      for p in exc.problems])


def _accept(state: ServiceState, served, table: str, check: Callable[[CatalogView, int], Any],
            store: int | None = None) -> Any:
    """The one path of every catalog write: ``check`` the body against what the served engine
    and the changes so far know (422 naming the fields), hold a merchant to its own ``store``
    (403), append it durably, apply it here; what ``check`` returned (its first item, a list of
    rows or one row, is what is written)."""
    follower = _follower(state)
    view = follower.view(served)
    try:
        checked = check(view, int(time.time() * 1000))
    except CatalogInputError as exc:
        raise _refused(exc) from exc
    rows = checked[0] if isinstance(checked, tuple) else [checked]
    if store is not None:
        _own_store_only(view, rows, store)
    _write(state, table, rows, follower, OPERATOR if store is None else f"{MERCHANT}{store}")
    return checked


def _own_store_only(view: CatalogView, rows: list[dict], store: int) -> None:
    """403 naming the rows of another store than the merchant's: a known product's store is the
    catalog's (an upsert never moves it), a new one's or a store row's is its own ``store_id``."""
    def store_of(row: dict) -> int | None:
        known = view.store_of(int(row["product_id"])) if "product_id" in row else None
        return known if known is not None else row.get("store_id")

    others = [row.get("product_id", row.get("store_id")) for row in rows if store_of(row) != store]
    if others:
        raise HTTPException(403, detail=f"store {store}'s merchant token changes only its own store's rows: "
                                        f"{len(others)} belong to another store ({others[:10]}); nothing "
                                        "was written")


def _write(state: ServiceState, table: str, rows: list[dict], follower: CatalogFollower, client: str) -> None:
    """Append durably (503 when the log cannot be written), then apply on this worker at once."""
    try:
        state.event_log.append({table: rows}, client=client)
    except EventLogUnavailableError as exc:
        log.error("catalog change refused: %s", exc)
        raise HTTPException(503, detail=f"the event log cannot be written now ({unavailable_reason(exc)}); "
                                        "nothing was written, retry later",
                            headers={"Retry-After": "30"}) from exc
    try:
        follower.catch_up()
    except Exception as exc:  # durable already: the follower's own poll applies it
        log.warning("catalog: applying at once failed (%s); the next poll applies it", type(exc).__name__)


@router.put("/v1/catalog/products", response_model=CatalogApplied, responses=CATALOG_ANSWERS)
def put_products(body: list[Any] = Body(..., openapi_examples=PRODUCT_EXAMPLES),
                 state: ServiceState = Depends(service_state), served=Depends(engine),
                 store: int | None = Depends(store_scope)) -> dict:
    """Upsert products: a new product carries every ``products`` column (``banned`` and
    ``listed_at`` may be left out), a known one only ``product_id`` and what changes; its
    ``store_id`` never changes. ``changed_at`` (epoch ms or ISO 8601) says when the change
    happened (default: now). Durable once 200."""
    _too_many(len(body), state.settings.catalog.max_rows_per_request, "rows", "catalog.max_rows_per_request")
    rows, new = _accept(state, served, PRODUCT_CHANGES, lambda view, now: check_products(body, view, now),
                        store)
    return {"accepted": len(rows), "new": new, "updated": len(rows) - new}


@router.post("/v1/catalog/bans", response_model=BanApplied, responses={**ok(**BAN_OK), **CATALOG_ERRORS})
def post_bans(body: Any = Body(..., openapi_examples=BAN_EXAMPLES),
              state: ServiceState = Depends(service_state), served=Depends(engine),
              _operator: None = Depends(admin)) -> dict:
    """Ban (or with ``unban: true`` lift the ban of) products and whole stores, with a reason.
    Every id must be known. Durable once 200."""
    limit = state.settings.catalog.max_ban_ids
    if isinstance(body, dict):
        named = sum(len(body[k]) for k in ("product_ids", "store_ids") if isinstance(body.get(k), list))
        _too_many(named, limit, "ids", "catalog.max_ban_ids")
    row = _accept(state, served, BANS, lambda view, now: check_ban(body, view, now, limit))
    return {"products": len(row["product_ids"]), "stores": len(row["store_ids"]), "unban": row["unban"]}


@router.put("/v1/catalog/stores", response_model=CatalogApplied, responses=CATALOG_ANSWERS)
def put_stores(body: list[Any] = Body(..., openapi_examples=STORE_EXAMPLES),
               state: ServiceState = Depends(service_state), served=Depends(engine),
               store: int | None = Depends(store_scope)) -> dict:
    """Add (or rename) stores: each a whole ``stores`` contract row. Durable once 200."""
    _too_many(len(body), state.settings.catalog.max_rows_per_request, "rows", "catalog.max_rows_per_request")
    rows, new = _accept(state, served, STORE_CHANGES, lambda view, now: check_stores(body, view, now), store)
    return {"accepted": len(rows), "new": new, "updated": len(rows) - new}
