"""Ranking endpoints: search, homepage, rerank, similar products (and the bench's no-op).

Each ranking endpoint validates its body (:mod:`serving.validation`), corrects the
query's spelling with the engine, builds the engine's request once
(:func:`serving.rank_requests.rank_request`) and serves the page under the request's
experiment plan (:mod:`serving.pages`). ``/v1/products/{id}/similar`` reads the
default ``k`` from settings, so :func:`add_ranking_routes` adds the routes per app.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query
from fastapi import Path as FastPath
from fastapi.responses import Response

from ranking.bundle import BundleError
from ranking.engine import Engine
from ranking.pipeline import RankRequest
from ranking.settings import ServingSettings
from serving.api_examples import HOMEPAGE, RANKING_OK, RERANK, SEARCH, SIMILAR_OK, ok
from serving.dependencies import engine, service_state
from serving.live import live_signals, logs_features, shopper_view
from serving.merchandising import current_book
from serving.page_route import PageRoute
from serving.pages import page_response, serve_page
from serving.rank_requests import RankingBody, new_request_id, page_size_for, rank_request
from serving.responses import errors
from serving.schemas import (
    MAX_ID,
    HomepageRequest,
    RankingResponse,
    RerankRequest,
    SearchRequest,
    SimilarResponse,
)
from serving.state import ServiceState
from serving.validation import check_homepage, check_rerank, check_search


@dataclass
class RankingCall:
    """What every ranking endpoint takes besides its body: the query string's ``explain``,
    the forced-variants header, the serving engine (503 without one) and the state."""

    explain: bool
    variant_header: str | None
    engine: Engine
    state: ServiceState

    @property
    def limits(self) -> ServingSettings:
        return self.state.settings.serving

    def prepare(self, body: RankingBody, page_size: int) -> tuple[RankRequest, str | None]:
        """A validated body as the engine's request, and the query as typed when spelling
        rewrote it: its query spell-corrected by the engine (unless the body opts out), the
        request built with the shopper's live view (:mod:`serving.live`). The operator's
        preview (:mod:`serving.merchandising_preview`) ranks the same request."""
        query = getattr(body, "query", None)  # a homepage has none
        fix = self.engine.correct_query(query, body.spell_correct) if query else None
        request = rank_request(body, page_size, fix.text if fix else None, self.explain, new_request_id(),
                               self.state.settings.mall.timezone)
        request.shopper = shopper_view(self.state, request.user_id, request.session_id, request.now_ms)
        request.live_signals = live_signals(self.state)
        request.log_features = logs_features(request.seed, self.state.settings.live.log_feature_share)
        request.merchandising = current_book(self.state)  # the rules and synonyms in force, read once
        return request, fix.typed if fix and fix.changed else None

    def serve(self, pipeline: str, body: RankingBody, page_size: int) -> Response:
        """A validated body ranked (:meth:`prepare`), the page served under the experiment plan."""
        request, typed = self.prepare(body, page_size)
        page = serve_page(self.state, pipeline, request, self.variant_header, typed)
        return page_response(self.state, page)


async def ranking_call(explain: bool = False, x_shelfrank_variant: str | None = Header(None),
                       eng: Engine = Depends(engine),
                       state: ServiceState = Depends(service_state)) -> RankingCall:
    """The call's context; a coroutine, so FastAPI builds it on the loop without a thread-pool
    handoff (:mod:`serving.dependencies`)."""
    return RankingCall(explain, x_shelfrank_variant, eng, state)


class RankingRoute(PageRoute):
    """Search, homepage and rerank: parsed and handed to a page thread directly
    (:mod:`serving.page_route`), with the context :func:`ranking_call` builds."""

    make_call = RankingCall


def search(body: SearchRequest = Body(openapi_examples=SEARCH),
           call: RankingCall = Depends(ranking_call)) -> Response:
    """Search results as product cards (lexical + dense recall, reranked, rules applied)."""
    page_size = page_size_for(body, call.limits)
    check_search(body, page_size, call.limits, call.engine)
    return call.serve("search", body, page_size)


def homepage(body: HomepageRequest = Body(openapi_examples=HOMEPAGE),
             call: RankingCall = Depends(ranking_call)) -> Response:
    """The homepage shelf for a user at a time of day (multi-source recall, reranked)."""
    page_size = page_size_for(body, call.limits)
    check_homepage(body, page_size, call.limits)
    return call.serve("homepage", body, page_size)


def rerank(body: RerankRequest = Body(openapi_examples=RERANK),
           call: RankingCall = Depends(ranking_call)) -> Response:
    """Rerank the caller's own candidates; unknown ids are dropped and listed."""
    page_size = page_size_for(body, call.limits)
    check_rerank(body, page_size, call.limits)
    return call.serve("rerank", body, page_size)


def similar_cards(eng: Engine, product_id: int, k: int) -> dict:
    """The ``/similar`` response: 404 for a product the bundle does not know (or no index)."""
    if not eng.knows_product(product_id):
        raise HTTPException(404, detail=f"product {product_id} is not in bundle {eng.version}")
    try:
        ids, scores = eng.similar(product_id, k)
    except BundleError as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    return {"product_id": product_id, "bundle_version": eng.version, "cards": eng.cards_for(ids, scores)}


def noop(body: RerankRequest) -> dict:
    """Parses and validates a rerank payload, ranks nothing: the HTTP + JSON floor (bench)."""
    return {"candidates": len(body.candidates)}


def _similar_endpoint(default_k: int):
    def similar(product_id: int = FastPath(ge=0, le=MAX_ID), k: int = Query(default_k, ge=1, le=200),
                eng: Engine = Depends(engine)) -> dict:
        """Products similar to this one (item-to-item co-interaction embeddings)."""
        return similar_cards(eng, product_id, k)
    return similar


def add_ranking_routes(router: APIRouter, limits: ServingSettings) -> None:
    """The ranking routes added to ``router``; ``/similar``'s default ``k`` is ``serving.similar_k``.

    The app adds them to its own router (:func:`serving.app.create_app`), not through
    ``include_router``: an included router's route is matched twice per request (once to find
    the included router, again inside it) behind FastAPI's route contexts: about 90 Python calls
    of a page's event loop (a cProfile of ``bench.http_path``); the routes and ``/openapi.json``
    are the same."""
    for path, endpoint in (("/v1/search", search), ("/v1/homepage", homepage), ("/v1/rerank", rerank)):
        router.add_api_route(path, endpoint, methods=["POST"], response_model=RankingResponse,
                             tags=["ranking"], responses={**ok(**RANKING_OK), **errors(422, 503)},
                             route_class_override=RankingRoute)
    router.add_api_route("/v1/products/{product_id}/similar", _similar_endpoint(limits.similar_k),
                         methods=["GET"], response_model=SimilarResponse, tags=["ranking"],
                         responses={**ok(**SIMILAR_OK), **errors(404, 422, 503)})
    router.add_api_route("/v1/noop", noop, methods=["POST"], include_in_schema=False, response_model=None)
