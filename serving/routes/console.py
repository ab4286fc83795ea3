"""The operator's console: the page (``GET /console``) and its preview (``POST /v1/rules/preview``).

The page is static (``serving/static/console.html``, ``console.js``, ``console.css``: no build
step, nothing from another origin) and holds no data: a browser cannot send a bearer header on a
navigation, so the page itself is public and asks for the operator token, keeps it in the
tab's ``sessionStorage`` and sends it on every call; every endpoint it calls checks it (the
rules and synonyms API, the preview, the merchant report). The preview ranks a shopper's request
with the rules in force and with a draft (:mod:`serving.merchandising_preview`); nothing it
ranks is logged.
"""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Header
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from ranking.engine import Engine
from serving.api_examples import ok
from serving.auth import admin
from serving.console_schemas import PREVIEW_EXAMPLES, PREVIEW_OK, PreviewRequest, PreviewResponse
from serving.dependencies import engine, service_state
from serving.merchandising_preview import preview
from serving.pages import encoded_body
from serving.responses import OPERATOR_ERRORS, errors
from serving.routes.demo import STATIC_DIR
from serving.routes.ranking import RankingCall
from serving.state import ServiceState

router = APIRouter()


@router.get("/console", include_in_schema=False)
def console_page() -> FileResponse:
    """The operator console (the page asks for the operator token; module docstring)."""
    return FileResponse(STATIC_DIR / "console.html")


@router.post("/v1/rules/preview", response_model=PreviewResponse, tags=["merchandising"],
             dependencies=[Depends(admin)],
             responses={**ok(**PREVIEW_OK), **OPERATOR_ERRORS, **errors(422, 503)})
async def rules_preview(body: PreviewRequest = Body(openapi_examples=PREVIEW_EXAMPLES),
                        x_shelfrank_variant: str | None = Header(None), eng: Engine = Depends(engine),
                        state: ServiceState = Depends(service_state)) -> Response:
    """A shopper's search or homepage ranked twice, same request id and seed: with the rules in
    force and with the draft rule / synonym set (and without the ``without`` ids); both pages
    explained, and every product whose position moved. Operator token only; nothing is logged."""
    call = RankingCall(True, x_shelfrank_variant, eng, state)
    answer = await run_in_threadpool(preview, body, call)
    return Response(content=encoded_body(answer), media_type="application/json")  # as a page's
