"""The FastAPI application: ranking endpoints, events, health, metrics and admin.

``create_app(settings)`` builds the app; the bundle loads in the lifespan (so a worker is
ready only when its engine is), after which the garbage collector's start-up objects are
frozen and its gen-0 threshold raised (``../shared/docs/performance.md``: full collections otherwise
land on random requests as 80 ms stalls).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import secrets
import time
from contextlib import asynccontextmanager, suppress
from datetime import UTC
from pathlib import Path

import numpy as np
import orjson
from fastapi import BackgroundTasks, Depends, FastAPI, Header, HTTPException, Query
from fastapi import Path as FastPath
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from ranking.bundle import BundleError
from ranking.engine import Engine
from ranking.event_log import EventLogUnavailableError
from ranking.experiments import team_draft
from ranking.mall_clock import local_hour
from ranking.pipeline import RankRequest
from ranking.recall.bundle_part import LEXICAL
from ranking.recall.tokenize import searchable
from ranking.recall.vector_index import set_search_threads
from ranking.settings import Settings
from ranking.text import query_id
from serving import metrics
from serving.event_checks import batch_problems
from serving.limits import BodyLimitMiddleware, TimingMiddleware
from serving.schemas import (
    MAX_ID,
    Context,
    DemoUsers,
    EventsAccepted,
    EventsBatch,
    Filters,
    HomepageRequest,
    RankingResponse,
    ReloadRequest,
    ReloadResponse,
    RerankRequest,
    SearchRequest,
    SimilarResponse,
)
from serving.state import ServiceState

log = logging.getLogger("shelfrank.serving")


def _field_error(field: str, msg: str) -> HTTPException:
    """A 422 shaped like pydantic's; a dotted ``field`` (``filters.price_min``) nests in ``loc``."""
    return HTTPException(422, detail=[{"loc": ["body", *field.split(".")], "msg": msg,
                                       "type": "value_error"}])


def create_app(settings: Settings, load: bool = True) -> FastAPI:
    state = ServiceState(settings)
    limits = settings.serving

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        set_search_threads(limits.search_threads)
        if load:
            await run_in_threadpool(state.load_initial)
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        watcher = asyncio.create_task(_follow_reloads(state, limits.reload_poll_seconds))
        yield
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher
        state.exposures.close()
        state.event_log.close()
        if state.engine:
            state.engine.close()

    app = FastAPI(
        title="Shelfrank",
        version="1",
        summary="Ranking and recommendation for a shelf-style mall: search, homepage, rerank.",
        lifespan=lifespan,
    )
    app.state.shelfrank = state

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError):
        """422 naming each bad field (the offending input is not echoed: it may be NaN or huge)."""
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return Response(content=_json({"detail": detail}), status_code=422,
                        media_type="application/json")
    app.add_middleware(TimingMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    if limits.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=limits.cors_origins,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", VARIANT_HEADER])

    def engine() -> Engine:
        current = state.engine
        if current is None:
            raise HTTPException(503, detail=state.load_error or "no bundle loaded")
        return current

    def when(context: Context | None) -> tuple[int, int]:
        if context and context.time:
            t = context.time if context.time.tzinfo else context.time.replace(tzinfo=UTC)
            now_ms = int(t.timestamp() * 1000)
        else:
            now_ms = int(time.time() * 1000)
        hour = context.hour if context and context.hour is not None else \
            int(local_hour(np.array([now_ms]), settings.mall.timezone)[0])
        return now_ms, hour

    def check_page(page_size: int, field: str = "page_size") -> None:
        if page_size > limits.max_page_size:
            raise _field_error(field, f"at most {limits.max_page_size} (serving.max_page_size)")

    def check_slots(slots: list[int], page_size: int) -> None:
        """Subsidy slots name distinct positions on the page (else the request cannot be honoured)."""
        seen: set[int] = set()
        for slot in slots:
            if slot in seen:
                raise _field_error("subsidy_slots", f"position {slot} is listed twice")
            if slot > page_size:
                raise _field_error("subsidy_slots", f"position {slot} is past the page "
                                                    f"({page_size} cards)")
            seen.add(slot)

    def check_filters(eng: Engine, f: Filters | None) -> None:
        """Filters that no product could pass are the caller's mistake, not an empty page."""
        if f is None:
            return
        if f.price_min is not None and f.price_max is not None and f.price_min > f.price_max:
            raise _field_error("filters.price_min", f"{f.price_min} is above price_max {f.price_max}")
        if f.category_id is not None and not eng.knows_category(f.category_id):
            raise _field_error("filters.category_id", f"no product of bundle {eng.version} is in "
                                                      f"category {f.category_id} (leaf or top level)")
        if f.store_id is not None and not eng.knows_store(f.store_id):
            raise _field_error("filters.store_id", f"store {f.store_id} is not in bundle {eng.version}")

    def check_query(query: str | None) -> None:
        if query is not None and len(query) > limits.max_query_chars:
            raise _field_error("query", f"at most {limits.max_query_chars} characters")
        if query is not None and not query.strip():
            raise _field_error("query", "must contain something other than white space")
        if query is not None and not searchable(query):  # "!!!", "🙂": recall would be arbitrary
            raise _field_error("query", "query has no searchable words (no letter or digit of any script: "
                                        "only punctuation, symbols or emoji)")

    def respond(eng: Engine, pipeline: str, request: RankRequest, variant_header: str | None,
                background: BackgroundTasks, typed_query: str | None = None) -> dict:
        started = time.perf_counter()
        router = state.router
        unit = str(request.user_id) if request.user_id is not None else f"request:{request.seed}"
        try:
            plan = router.plan(unit, request.surface, _parse_override(variant_header))
        except ValueError as exc:
            raise HTTPException(422, detail=[{"loc": ["header", VARIANT_HEADER], "msg": str(exc),
                                              "type": "value_error"}]) from exc
        if plan.interleave is None:
            arm = plan.primary
            page = arm.engine.rank(pipeline, request, arm.rules)
            cards, dropped, version = page.cards, page.dropped, arm.engine.version
            timings = page.timings
        else:
            cards, dropped, version, timings = _interleave(plan, pipeline, request)
        for stage, seconds in timings.items():
            metrics.STAGE_SECONDS.labels(pipeline, stage).observe(seconds)
        response = {
            "request_id": request.seed,
            "query_id": query_id(request.query) if request.query else None,
            "corrected_query": request.query if typed_query is not None else None,
            "text_match": (any(LEXICAL in card["sources"] for card in cards)
                           if pipeline == "search" else None),
            "bundle_version": version,
            "experiment": plan.experiment or limits.experiment,
            "variant": plan.variant or limits.variant,
            "cards": cards,
            "dropped": dropped,
        }
        if limits.log_exposures and cards:
            # inline, not a BackgroundTask: the line is one orjson call, while a
            # background task is a thread-pool handoff that the connection's next request
            # waits behind (uvicorn finishes one request cycle before the next)
            try:
                _log_exposures(state, request, response, (time.perf_counter() - started) * 1000.0,
                               typed_query)
            except Exception:  # never fail a ranking response over its exposure line
                log.exception("could not log exposures for request %s", request.seed)
        # the response model documents the shape; orjson writes it (skipping a second
        # validation pass over cards the engine built) — about 1 ms saved per page
        return Response(content=orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY),
                        media_type="application/json", background=background)

    def new_request_id() -> int:
        return secrets.randbits(62)

    # ---- ranking -------------------------------------------------------------------------
    @app.post("/v1/search", response_model=RankingResponse, tags=["ranking"])
    def search(body: SearchRequest, background: BackgroundTasks, explain: bool = False,
               x_shelfrank_variant: str | None = Header(None), eng: Engine = Depends(engine)):
        """Search results as product cards (lexical + dense recall, reranked, rules applied)."""
        page_size = body.page_size or limits.default_page_size
        check_page(page_size)
        check_query(body.query)
        check_slots(body.subsidy_slots, page_size)
        check_filters(eng, body.filters)
        now_ms, hour = when(body.context)
        f = body.filters
        fix = eng.correct_query(body.query, body.spell_correct)
        req = RankRequest(surface="search", page_size=page_size, now_ms=now_ms, hour=hour,
                          user_id=body.user_id, query=fix.text, explain=explain,
                          subsidy_slots=tuple(body.subsidy_slots), seed=new_request_id(),
                          price_min=f.price_min if f else None, price_max=f.price_max if f else None,
                          category_id=f.category_id if f else None, store_id=f.store_id if f else None)
        return respond(eng, "search", req, x_shelfrank_variant, background,
                       typed_query=fix.typed if fix.changed else None)

    @app.post("/v1/homepage", response_model=RankingResponse, tags=["ranking"])
    def homepage(body: HomepageRequest, background: BackgroundTasks, explain: bool = False,
               x_shelfrank_variant: str | None = Header(None), eng: Engine = Depends(engine)):
        """The homepage shelf for a user at a time of day (multi-source recall, reranked)."""
        page_size = body.page_size or limits.default_page_size
        check_page(page_size)
        check_slots(body.subsidy_slots, page_size)
        now_ms, hour = when(body.context)
        req = RankRequest(surface="homepage", page_size=page_size, now_ms=now_ms, hour=hour,
                          user_id=body.user_id, explain=explain, seed=new_request_id(),
                          subsidy_slots=tuple(body.subsidy_slots))
        return respond(eng, "homepage", req, x_shelfrank_variant, background)

    @app.post("/v1/rerank", response_model=RankingResponse, tags=["ranking"])
    def rerank(body: RerankRequest, background: BackgroundTasks, explain: bool = False,
               x_shelfrank_variant: str | None = Header(None), eng: Engine = Depends(engine)):
        """Rerank the caller's own candidates; unknown ids are dropped and listed."""
        if len(body.candidates) > limits.max_rerank_candidates:
            raise _field_error("candidates", f"at most {limits.max_rerank_candidates} candidates "
                                             "(serving.max_rerank_candidates)")
        check_query(body.query)
        if body.surface == "search" and not body.query:
            raise _field_error("query", "required when surface is search")
        if body.surface != "search" and body.query is not None:
            raise _field_error("query", f"only read when surface is search (a {body.surface} "
                                        "page is ranked without one)")
        page_size = body.page_size or min(len(body.candidates), limits.max_page_size)
        check_page(page_size)
        check_slots(body.subsidy_slots, page_size)
        now_ms, hour = when(body.context)
        fix = eng.correct_query(body.query, body.spell_correct) if body.query else None
        req = RankRequest(surface=body.surface, page_size=page_size, now_ms=now_ms, hour=hour,
                          user_id=body.user_id, query=fix.text if fix else None, explain=explain,
                          candidates=np.asarray(body.candidates, dtype=np.int64), seed=new_request_id(),
                          subsidy_slots=tuple(body.subsidy_slots))
        return respond(eng, "rerank", req, x_shelfrank_variant, background,
                       typed_query=fix.typed if fix and fix.changed else None)

    @app.get("/v1/products/{product_id}/similar", response_model=SimilarResponse, tags=["ranking"])
    def similar(product_id: int = FastPath(ge=0, le=MAX_ID), k: int = Query(limits.similar_k, ge=1, le=200),
                eng: Engine = Depends(engine)):
        """Products similar to this one (item-to-item co-interaction embeddings)."""
        if not eng.knows_product(product_id):
            raise HTTPException(404, detail=f"product {product_id} is not in bundle {eng.version}")
        try:
            ids, scores = eng.similar(product_id, k)
        except BundleError as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        return {"product_id": product_id, "bundle_version": eng.version,
                "cards": eng.cards_for(ids, scores)}

    @app.post("/v1/noop", include_in_schema=False)
    def noop(body: RerankRequest):
        """Parses and validates a rerank payload, ranks nothing: the HTTP + JSON floor (bench)."""
        return {"candidates": len(body.candidates)}

    # ---- events --------------------------------------------------------------------------
    @app.post("/v1/events", response_model=EventsAccepted, tags=["events"])
    def events(body: EventsBatch):
        """Impressions, clicks, carts and orders in the data-contract shape; durable once 200."""
        rows = {}
        total = 0
        for table in EventsBatch.model_fields:
            items = getattr(body, table)
            total += len(items)
            rows[table] = [item.model_dump() for item in items]  # timestamps already epoch ms
        if total == 0:
            raise _field_error("impressions", "the batch holds no events")
        if total > limits.max_events_per_post:
            raise _field_error("impressions", f"at most {limits.max_events_per_post} events per post")
        router = state.router
        engines = list({id(e): e for e in (router.default, *router.engines.values())}.values()) \
            if router else []  # catalog checks need a bundle; without one they are skipped
        problems = batch_problems(rows, engines, limits)
        if problems:  # the whole batch is refused, every problem named
            raise HTTPException(422, detail=[{"loc": p.loc, "msg": p.msg, "type": "value_error"}
                                             for p in problems])
        try:
            accepted = state.event_log.append(rows, client=None)  # identity: authentication (later)
        except EventLogUnavailableError as exc:
            raise HTTPException(503, detail=str(exc), headers={"Retry-After": "30"}) from exc
        for table, n in accepted.items():
            metrics.EVENTS.labels(table).inc(n)
        return {"accepted": accepted}

    # ---- demo page ----------------------------------------------------------------------
    static_dir = Path(__file__).parent / "static"

    @app.get("/", include_in_schema=False)
    def demo_page():
        return FileResponse(static_dir / "index.html")

    app.mount("/static", StaticFiles(directory=static_dir), name="static")

    @app.get("/v1/demo/users", response_model=DemoUsers, tags=["demo"])
    def demo_users(n: int = Query(24, ge=1, le=200), eng: Engine = Depends(engine)):
        """Users to pick on the demo page (the most active ones in the bundle's snapshot)."""
        snap = eng.snapshot
        ids = snap.users.ids
        visits = snap.store_visits
        if visits is not None and len(visits.keys):
            rows = visits.keys // visits.stride
            activity = np.bincount(rows, weights=visits.values, minlength=len(ids))[: len(ids)]
            ids = ids[np.argsort(-activity, kind="stable")]
        themes = {"06-12": "grains & cooking oil", "12-18": "food & daily goods",
                  "18-06": "digital & beauty"}
        return {"users": [int(u) for u in ids[:n]], "hours": themes}

    # ---- operations ----------------------------------------------------------------------
    @app.get("/healthz", tags=["operations"])
    def healthz():
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz():
        """Ready when a verified bundle is loaded (503 with the reason otherwise)."""
        if state.engine is None:
            return Response(content=_json({"ready": False, "reason": state.load_error}),
                            status_code=503, media_type="application/json")
        return {"ready": True, "bundle_version": state.engine.version,
                "bundle_path": str(state.engine.bundle.path)}

    @app.get("/metrics", tags=["operations"])
    def prometheus():
        """Prometheus exposition: latency per endpoint and stage, errors, bundle version."""
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    @app.get("/v1/bundle", tags=["operations"])
    def bundle(eng: Engine = Depends(engine)):
        """The served bundle's manifest."""
        return eng.bundle.public_manifest

    def admin(authorization: str | None = Header(None)) -> None:
        token = limits.admin_token.get_secret_value()
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, detail="admin endpoints need 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not token:
            raise HTTPException(403, detail="admin is disabled: set serving.admin_token")
        if not hmac.compare_digest(authorization[7:].encode(), token.encode()):
            raise HTTPException(403, detail="wrong admin token")

    @app.post("/admin/reload", response_model=ReloadResponse, tags=["admin"],
              dependencies=[Depends(admin)])
    async def reload(body: ReloadRequest | None = None):
        """Load a bundle, verify it fully, swap it in; a bad bundle is refused (409)."""
        try:
            eng, previous = await run_in_threadpool(state.reload, body.bundle if body else None)
        except BundleError as exc:
            raise HTTPException(409, detail=f"bundle refused, still serving "
                                            f"{state.engine.version if state.engine else 'nothing'}: "
                                            f"{exc}") from exc
        return {"bundle_version": eng.version, "previous_version": previous, "path": str(eng.bundle.path)}

    return app


VARIANT_HEADER = "X-Shelfrank-Variant"


def _parse_override(header: str | None) -> dict[str, str] | None:
    """``experiment=variant[,experiment=variant]`` (QA forcing a variant)."""
    if not header:
        return None
    out = {}
    for part in header.split(","):
        name, sep, variant = part.partition("=")
        if not sep or not name.strip() or not variant.strip():
            raise ValueError(f"{VARIANT_HEADER} must look like 'experiment=variant', got {part!r}")
        out[name.strip()] = variant.strip()
    return out


def _interleave(plan, pipeline: str, request: RankRequest):
    """Team-draft interleaving of the two arms' pages; each card says which arm gave it."""
    a, b = plan.interleave
    page_a = a.engine.rank(pipeline, request, a.rules)
    page_b = b.engine.rank(pipeline, request, b.rules)
    rng = np.random.default_rng(request.seed)
    ids, team = team_draft(np.array([c["product_id"] for c in page_a.cards], dtype=np.int64),
                           np.array([c["product_id"] for c in page_b.cards], dtype=np.int64),
                           request.page_size, rng)
    by_id = [{c["product_id"]: c for c in page_a.cards}, {c["product_id"]: c for c in page_b.cards}]
    shared = by_id[0].keys() & by_id[1].keys()
    cards = []
    for position, (pid, t) in enumerate(zip(ids.tolist(), team.tolist(), strict=True), start=1):
        card = dict(by_id[t][pid])
        card["position"] = position
        card["team"] = (a.name, b.name)[t]
        card["shared"] = pid in shared
        cards.append(card)
    kept = {c["product_id"] for c in cards}
    dropped = [d for d in page_a.dropped if d["reason"] == "duplicate" or d["product_id"] not in kept]
    timings = {k: page_a.timings.get(k, 0) + page_b.timings.get(k, 0) for k in page_a.timings}
    version = a.engine.version if a.engine is b.engine else f"{a.engine.version}+{b.engine.version}"
    return cards, dropped, version, timings


def _log_exposures(state: ServiceState, request: RankRequest, response: dict, latency_ms: float,
                   typed_query: str | None = None) -> None:
    """With the response: one exposure line per request, its cards as columns (the reader
    explodes them into one row per card); batched to disk, never fails the response."""
    cards = response["cards"]
    line = {
        "request_id": response["request_id"], "timestamp": request.now_ms, "user_id": request.user_id,
        "surface": request.surface,
        "query_id": response["query_id"],
        "typed_query_id": query_id(typed_query) if typed_query is not None else None,
        "query": request.query, "typed_query": typed_query,  # merge-events gives the ids their text
        "experiment": response["experiment"], "variant": response["variant"],
        "bundle_version": response["bundle_version"], "latency_ms": round(latency_ms, 3),
        "cards": {"product_id": [c["product_id"] for c in cards], "position": [c["position"] for c in cards],
                  "team": [c.get("team") for c in cards], "shared": [c.get("shared") for c in cards],
                  "propensity": [c["propensity"] for c in cards]},
    }
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    state.exposures.add_line(orjson.dumps(line, option=options))


def _json(obj) -> bytes:
    return orjson.dumps(obj)


async def _follow_reloads(state: ServiceState, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(state.follow_control)
        except Exception:  # never let the watcher die
            log.exception("following the reload control file failed")
