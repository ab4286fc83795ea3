"""What a served request leaves behind, run after its response is sent.

A ranking page observes its pipeline stages' seconds (``shelfrank_stage_seconds``) and
writes one exposure line (its cards as columns; the reader explodes them into one row
per card) to the buffered exposure log, which flushes in batches. An accepted event
batch counts its rows (``shelfrank_events_total``) — its durability is the endpoint's,
before the 200. These are ``async`` functions handed to Starlette as background tasks:
Starlette runs an async task on the event loop right after the body is sent, without the
thread-pool handoff a sync task costs (the connection's next request waits for it, as it
waited for the inline line before). Neither can fail a response: an exposure line that
cannot be written is logged and dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from ranking.event_log import BufferedAppender
from ranking.pipeline import RankRequest
from ranking.text import query_id
from serving import metrics

log = logging.getLogger("shelfrank.serving")


@dataclass
class ServedPage:
    """A ranking response and what its side effects need to know about it."""

    pipeline: str
    request: RankRequest
    body: dict  # the response, as sent
    timings: dict[str, float]  # seconds per pipeline stage
    latency_ms: float  # from the built request to the built response
    typed_query: str | None = None  # the query as typed, when spelling rewrote it
    live_features: dict | None = None  # the cards' live feature values, for live.log_feature_share


def exposure_line(page: ServedPage) -> bytes:
    """One JSON line for the exposure log (typed and searched query, variant, cards)."""
    request, body, cards = page.request, page.body, page.body["cards"]
    typed = page.typed_query
    line = {
        "request_id": body["request_id"], "timestamp": request.now_ms, "user_id": request.user_id,
        "session_id": request.session_id, "surface": request.surface,
        "query_id": body["query_id"],
        "typed_query_id": query_id(typed) if typed is not None else None,
        "query": request.query, "typed_query": typed,  # merge-events gives the ids their text
        "experiment": body["experiment"], "variant": body["variant"],
        "bundle_version": body["bundle_version"], "latency_ms": round(page.latency_ms, 3),
        "cards": {"product_id": [c["product_id"] for c in cards], "position": [c["position"] for c in cards],
                  "team": [c.get("team") for c in cards], "shared": [c.get("shared") for c in cards],
                  "propensity": [c["propensity"] for c in cards]},
    }
    if request.channel is not None:
        line["channel"] = request.channel  # a channel page (subsidy, category): its pacing counts it
    if page.live_features:
        line["live_features"] = page.live_features  # per feature, the cards' values (None: missing)
    return orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)


async def after_page(page: ServedPage, exposures: BufferedAppender | None) -> None:
    """Stage timings to the metrics; the exposure line when ``exposures`` is given
    (``serving.log_exposures``) and the page has cards."""
    for stage, seconds in page.timings.items():
        metrics.observe(metrics.child(metrics.STAGE_SECONDS, page.pipeline, stage), seconds)
    if exposures is None or not page.body["cards"]:
        return
    try:
        exposures.add_line(exposure_line(page))
    except Exception:  # never fail a ranking response over its exposure line
        log.exception("could not log exposures for request %s", page.request.seed)


async def after_events(accepted: dict[str, int]) -> None:
    """Count the rows of a batch that is durably logged."""
    for table, n in accepted.items():
        metrics.EVENTS.labels(table).inc(n)
