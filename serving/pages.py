"""A ranking request served as a page: its experiment plan, the ranking, the response.

:func:`serve_page` asks the :class:`~serving.routing.Router` which arm serves the request
(its user, else its request id; a malformed or impossible
:data:`~ranking.experiments.VARIANT_HEADER` is a 422 at ``["header", ...]``), ranks it
with that arm's engine and rules (or interleaves two arms, :mod:`serving.interleaving`)
and builds the response body. :func:`page_response` writes the body with orjson (the
response model documents the shape; skipping a second validation pass over cards the
engine built saves about 1 ms per page; the ``dropped`` entries, kept as arrays by the
engine, write their own JSON: :class:`~ranking.pipeline.dropped.DroppedEntries`) and hands
the side effects (:mod:`serving.side_effects`) to run after it is sent.
"""

from __future__ import annotations

import time

import orjson
from fastapi import HTTPException
from fastapi.responses import Response
from starlette.background import BackgroundTask

from ranking.event_log import BufferedAppender
from ranking.experiments import VARIANT_HEADER
from ranking.pipeline import RankRequest
from ranking.pipeline.dropped import DroppedEntries
from ranking.text import query_id
from serving.interleaving import interleave
from serving.routing import Plan, Router, forced_variants
from serving.side_effects import ServedPage, after_page
from serving.state import ServiceState


def plan_for(router: Router, request: RankRequest, variant_header: str | None) -> Plan:
    """The request's experiment arms; 422 naming the header when it cannot apply."""
    unit = str(request.user_id) if request.user_id is not None else f"request:{request.seed}"
    try:
        return router.plan(unit, request.surface, forced_variants(variant_header))
    except ValueError as exc:
        raise HTTPException(422, detail=[{"loc": ["header", VARIANT_HEADER], "msg": str(exc),
                                          "type": "value_error"}]) from exc


def serve_page(state: ServiceState, pipeline: str, request: RankRequest, variant_header: str | None,
               typed_query: str | None = None) -> ServedPage:
    """Rank ``request`` through ``pipeline`` under its experiment plan; ``typed_query`` is
    the query as typed when spelling rewrote it (``request.query`` is the one searched)."""
    started = time.perf_counter()
    limits = state.settings.serving
    plan = plan_for(state.router, request, variant_header)
    if plan.interleave is None:
        arm = plan.primary
        page, version = arm.engine.rank(pipeline, request, arm.rules), arm.engine.version
    else:
        page, version = interleave(plan, pipeline, request)
    body = {
        "request_id": request.seed,
        "query_id": query_id(request.query) if request.query else None,
        "corrected_query": request.query if typed_query is not None else None,
        "synonyms": page.synonyms,
        "text_match": page.text_match,
        "query_words": page.query_words,
        "notice": page.notice,
        "bundle_version": version,
        "experiment": plan.experiment or limits.experiment,
        "variant": plan.variant or limits.variant,
        "cards": page.cards,
        "dropped": page.dropped,
        "rules_applied": page.rules_applied,
        "redirect": page.redirect,
    }
    return ServedPage(pipeline, request, body, page.timings, (time.perf_counter() - started) * 1000.0,
                      typed_query, page.live_features)


def _encoded(value: object) -> orjson.Fragment:
    """orjson's ``default``: the dropped entries' JSON, written from their arrays."""
    if isinstance(value, DroppedEntries):
        return orjson.Fragment(value.json())
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encoded_body(body: dict) -> bytes:
    """A page's body as the response's JSON (numpy values as numbers, the dropped entries' own JSON)."""
    return orjson.dumps(body, default=_encoded, option=orjson.OPT_SERIALIZE_NUMPY)


class AfterPage(BackgroundTask):
    """:func:`~serving.side_effects.after_page` as a response's background task: Starlette's
    ``BackgroundTask`` asks ``inspect`` whether its function is a coroutine function on every
    page; this one is known to be."""

    def __init__(self, page: ServedPage, exposures: BufferedAppender | None) -> None:
        self.page, self.exposures = page, exposures

    async def __call__(self) -> None:
        await after_page(self.page, self.exposures)


def page_response(state: ServiceState, page: ServedPage) -> Response:
    """The page as JSON, its metrics and exposure line to follow the response."""
    exposures = state.exposures if state.settings.serving.log_exposures else None
    return Response(content=encoded_body(page.body), media_type="application/json",
                    background=AfterPage(page, exposures))
