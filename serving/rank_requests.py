"""From a validated request body to the engine's :class:`~ranking.pipeline.RankRequest`.

One function (:func:`rank_request`) builds the ranking call of every ranking endpoint
(search, homepage, rerank): the surface, the page size (the body's, else
``serving.default_page_size``; a rerank without one ranks all its candidates, at most
``serving.max_page_size``), the request time and mall-clock hour, the filters (the badge
filters too), the caller's candidates, the subsidy slots and the shopper's session. Pure: the
seed (the response's ``request_id``) and the query as searched (after spelling) are given.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC

import numpy as np

from ranking.mall_clock import fixed_offset_ms, local_hour
from ranking.pipeline import RankRequest
from ranking.settings import ServingSettings
from serving.schemas import Context, HomepageRequest, RerankRequest, SearchRequest

RankingBody = SearchRequest | HomepageRequest | RerankRequest


def new_request_id() -> int:
    """A random 62-bit request id: the response's ``request_id`` and the ranking's seed."""
    return secrets.randbits(62)


def page_size_for(body: RankingBody, limits: ServingSettings) -> int:
    """The cards asked for (not yet checked against ``serving.max_page_size``)."""
    if body.page_size:
        return body.page_size
    if isinstance(body, RerankRequest):
        return min(len(body.candidates), limits.max_page_size)
    return limits.default_page_size


def request_time(context: Context | None, timezone: str) -> tuple[int, int]:
    """(UTC epoch ms, local hour): ``context.time`` (naive is UTC) or now, and
    ``context.hour`` or that time's hour on the mall's clock (``mall.timezone``)."""
    if context and context.time:
        t = context.time if context.time.tzinfo else context.time.replace(tzinfo=UTC)
        now_ms = int(t.timestamp() * 1000)
    else:
        now_ms = int(time.time() * 1000)
    hour = context.hour if context and context.hour is not None else mall_hour(now_ms, timezone)
    return now_ms, hour


def mall_hour(now_ms: int, timezone: str) -> int:
    """:func:`~ranking.mall_clock.local_hour` of one instant: in Python's integers when the zone's
    offset is fixed (the same floor division and modulo as numpy's, without a one-element array
    and its ``astype``), else through it."""
    offset = fixed_offset_ms(timezone)
    if offset is not None:
        return (now_ms + offset) // 3_600_000 % 24
    return int(local_hour(np.array([now_ms]), timezone)[0])


def rank_request(body: RankingBody, page_size: int, query: str | None, explain: bool, seed: int,
                 timezone: str) -> RankRequest:
    """The engine's request for a validated body; ``query`` is the text to rank with."""
    now_ms, hour = request_time(body.context, timezone)
    f = body.filters if isinstance(body, SearchRequest) else None
    surface = body.surface if isinstance(body, RerankRequest) else \
        "search" if isinstance(body, SearchRequest) else "homepage"
    candidates = body.candidates if isinstance(body, RerankRequest) else None
    return RankRequest(
        surface=surface, page_size=page_size, now_ms=now_ms, hour=hour, user_id=body.user_id,
        session_id=body.session_id,
        query=query, explain=explain, subsidy_slots=tuple(body.subsidy_slots), seed=seed,
        candidates=np.asarray(candidates, dtype=np.int64) if candidates is not None else None,
        price_min=f.price_min if f else None, price_max=f.price_max if f else None,
        category_id=f.category_id if f else None, store_id=f.store_id if f else None,
        badges=body.required_badges())
