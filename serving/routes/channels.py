"""Channel pages: the big-brand subsidy channel and category browsing (docs/channels.md).

``POST /v1/channel/subsidy`` and ``POST /v1/channel/category/{category_id}`` take the homepage's
body (shopper, page size, context; the same checks) and serve the engine's ``subsidy`` and
``category`` pipelines on the ``channel`` surface, under the experiment plan like every ranking
page (:mod:`serving.pages`), their cards logged as exposures with ``surface="channel"`` and the
``channel``. The subsidy channel's request carries its served impressions since mall-local
midnight from the live state (the brands' pacing); without a live state the page says pacing is
off. An unknown category is a 404 with the reason. ``GET /v1/channel/subsidy/pacing`` (operator
token when one is set) reports each participating brand's promise, delivery and pacing error.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Body, Depends, HTTPException
from fastapi import Path as FastPath
from fastapi.responses import Response

from ranking.channel_pacing import day_start_ms, delivered_by_brand, pacing_report
from ranking.engine import Engine
from ranking.pipeline import RankRequest
from ranking.surfaces import CATEGORY_CHANNEL, CHANNEL, SUBSIDY_CHANNEL
from serving.api_examples import ok
from serving.auth import operator_view
from serving.channel_schemas import (
    CATEGORIES_OK,
    CATEGORY_OK,
    CHANNEL_BODY,
    PACING_OK,
    SUBSIDY_OK,
    ChannelResponse,
    PacingReport,
    TopCategories,
)
from serving.dependencies import engine, service_state
from serving.live import channel_exposures
from serving.pages import page_response, serve_page
from serving.rank_requests import page_size_for
from serving.responses import errors
from serving.routes.ranking import RankingCall, ranking_call
from serving.schemas import MAX_ID, HomepageRequest
from serving.state import ServiceState
from serving.validation import check_homepage


def pacing_note(state: ServiceState, request: RankRequest) -> dict:
    """Whether the subsidy channel's pacing runs for this request, and why (the page shows it)."""
    if not state.settings.channels.pacing:
        return {"on": False, "why": "channels.pacing is off"}
    if request.channel_exposures is None:
        return {"on": False, "why": "no live state (live.backend off, not started or failing): the "
                                    "channel is served unpaced"}
    return {"on": True, "why": "brands paced to their daily promise since mall-local midnight"}


def serve_channel(call: RankingCall, body: HomepageRequest, channel: str,
                  category_id: int | None) -> Response:
    """A channel page: the homepage's checks, the engine's ``channel`` pipeline on the channel surface."""
    page_size = page_size_for(body, call.limits)
    check_homepage(body, page_size, call.limits)
    request, _ = call.prepare(body, page_size)
    request.surface, request.channel, request.category_id = CHANNEL, channel, category_id
    note = None
    if channel == SUBSIDY_CHANNEL:
        if call.state.settings.channels.pacing:
            since = day_start_ms(request.now_ms, call.state.settings.mall.timezone)
            request.channel_exposures = channel_exposures(call.state, since)
        note = pacing_note(call.state, request)
    page = serve_page(call.state, channel, request, call.variant_header)
    page.body.update(channel=channel, category_id=category_id, pacing=note)
    return page_response(call.state, page)


def subsidy_channel(body: HomepageRequest = Body(openapi_examples=CHANNEL_BODY),
                    call: RankingCall = Depends(ranking_call)) -> Response:
    """The big-brand subsidy channel (大牌大补): eligible products, the slot's theme first, the
    timed subsidy sessions' deepest subsidies boosted, brands paced to their daily promise."""
    return serve_channel(call, body, SUBSIDY_CHANNEL, None)


def category_page(category_id: int = FastPath(ge=0, le=MAX_ID),
                  body: HomepageRequest = Body(openapi_examples=CHANNEL_BODY),
                  call: RankingCall = Depends(ranking_call)) -> Response:
    """A category page: a leaf or top category browsed without a query, ranked by the model."""
    if not call.engine.knows_category(category_id):
        raise HTTPException(404, detail=f"category {category_id} is neither a leaf nor a top category "
                                        f"of a product in bundle {call.engine.version}")
    return serve_channel(call, body, CATEGORY_CHANNEL, category_id)


def top_categories(eng: Engine = Depends(engine)) -> dict:
    """The top-level categories a category page can browse (the demo page's category bar)."""
    return {"categories": eng.top_categories()}


def subsidy_pacing(eng: Engine = Depends(engine), state: ServiceState = Depends(service_state)) -> dict:
    """Each participating brand's daily promise, impressions delivered today, due by now, pacing error."""
    now_ms = int(time.time() * 1000)
    timezone = state.settings.mall.timezone
    exposures = channel_exposures(state, day_start_ms(now_ms, timezone))
    delivered = delivered_by_brand(exposures or {}, eng.snapshot)
    report = pacing_report(eng.subsidy_brands(), delivered, now_ms, timezone, state.settings.channels)
    return {"live": exposures is not None, **report}


router = APIRouter()
router.add_api_route("/v1/channel/subsidy", subsidy_channel, methods=["POST"], response_model=ChannelResponse,
                     tags=["channels"], responses={**ok(**SUBSIDY_OK), **errors(422, 503)})
router.add_api_route("/v1/channel/category/{category_id}", category_page, methods=["POST"],
                     response_model=ChannelResponse, tags=["channels"],
                     responses={**ok(**CATEGORY_OK), **errors(404, 422, 503)})
router.add_api_route("/v1/channel/categories", top_categories, methods=["GET"], response_model=TopCategories,
                     tags=["channels"], responses={**ok(**CATEGORIES_OK), **errors(503)})
router.add_api_route("/v1/channel/subsidy/pacing", subsidy_pacing, methods=["GET"],
                     response_model=PacingReport, tags=["channels"], dependencies=[Depends(operator_view)],
                     responses={**ok(**PACING_OK), **errors(401, 403, 422, 429, 503)})
