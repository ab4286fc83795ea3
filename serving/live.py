"""The live state inside the service: started with the app, read once per ranking request.

:func:`start_live` opens the backend ``live.backend`` names (:func:`ranking.live.backend.open_live_state`),
tells it the bundle's product leaves, replays the event log and starts following it; the
app's lifespan calls it after the bundle loads and :func:`stop_live` on shutdown. It is
kept on ``ServiceState.live`` (None when off or when it could not start).
:func:`shopper_view` is what a ranking request reads: the shopper's live view, or None —
the bundle's frozen pages — when the backend is off, failed to start, or fails on this read.
:func:`live_signals` is the request's reader of the candidates' live counters (the live
features, :mod:`ranking.pipeline.live_features`), None when the backend is off;
:func:`logs_features` picks the share of requests whose served live values are logged.
A failure never fails the request: it counts ``shelfrank_live_degraded_total{reason}`` and
logs one line per reason and worker; the Redis backend's applier reports a failed apply the same
way (reason ``apply``: the rows stay in the log and are applied again next poll).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from ranking.live.backend import open_live_state
from ranking.live.homepage_ahead import ShopperListsAhead
from ranking.live.state import ShopperView
from serving import metrics
from serving.rank_requests import mall_hour
from serving.state import ServiceState, router_engines

log = logging.getLogger("shelfrank.live")
_logged: set[str] = set()


def degraded(reason: str, detail: object) -> None:
    """Count a fall back to the frozen state; log the first of each reason."""
    metrics.LIVE_DEGRADED.labels(reason).inc()
    if reason not in _logged:
        _logged.add(reason)
        log.error("live state degraded (%s): %s; pages come from the bundle's frozen state", reason, detail)


def start_live(state: ServiceState) -> None:
    """Open, describe, replay and start following the live state (blocking: run off the loop)."""
    try:
        live = open_live_state(state.settings, on_failure=degraded)
        if live is None:
            return
        leaves = state.engine.product_leaves() if state.engine else None
        if leaves is not None:
            live.describe_catalog(*leaves)
        started = time.perf_counter()
        rows = live.start()
        log.info("live state: %d logged rows replayed in %.2f s", rows, time.perf_counter() - started)
        state.live = live
    except Exception as exc:  # a backend that cannot start: frozen pages, never a failed start
        degraded("start", exc)
        return
    try:
        start_lists_ahead(state)
    except Exception:  # the pages compute their lists as before
        log.exception("live state: the homepage lists ahead could not start")


def start_lists_ahead(state: ServiceState) -> None:
    """Compute a shopper's homepage lists when their events reach the live state
    (``recall.homepage_lists_ahead``; a backend that tells which shoppers a poll changed: the
    embedded one, and the Redis one through its applied stream), for the engines the router serves
    at the time."""
    live, recall = state.live, state.settings.recall
    if live is None or not recall.homepage_lists_ahead or not hasattr(live, "on_shoppers"):
        return
    timezone = state.settings.mall.timezone

    def view_of(user: int) -> ShopperView | None:
        return shopper_view(state, user, None, int(time.time() * 1000))

    def hour_of() -> int:
        return mall_hour(int(time.time() * 1000), timezone)

    ahead = ShopperListsAhead(lambda: router_engines(state.router), view_of, hour_of,
                              recall.homepage_lists_ahead_pending).start()
    state.lists_ahead = ahead
    if hasattr(live, "shoppers_max"):  # a backend naming shoppers to other workers: no more than wait
        live.shoppers_max = recall.homepage_lists_ahead_pending
    live.on_shoppers = ahead.add


def stop_live(state: ServiceState) -> None:
    if state.lists_ahead is not None:
        if state.live is not None:
            state.live.on_shoppers = None  # the tail tells nobody from now
        state.lists_ahead.stop()
        state.lists_ahead = None
    if state.live is not None:
        state.live.stop()
        state.live = None


def shopper_view(state: ServiceState, user_id: int | None, session_id: str | None,
                 now_ms: int) -> ShopperView | None:
    """The request's shopper as the live state knows them; None for the frozen pages."""
    live = state.live
    if live is None or (user_id is None and session_id is None):
        return None
    try:
        view = live.shopper_view(user_id, session_id, now_ms)
    except Exception as exc:  # a backend down or full: the frozen pages, never a 5xx
        degraded("read", exc)
        return None
    return view if view.known else None


def logs_features(request_id: int, share: float) -> bool:
    """Whether this request's exposure line logs its live feature values: a deterministic
    ``share`` of requests by a hash of the request id (``live.log_feature_share``)."""
    if share <= 0:
        return False
    x = (int(request_id) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return (x >> 44) < share * (1 << 20)


SignalsReader = Callable[[np.ndarray, int], "dict[str, np.ndarray] | None"]


def live_signals(state: ServiceState) -> SignalsReader | None:
    """The candidates' live counters for the live features (``product_signals``), or None when
    the backend is off; a failed read counts as degraded (``signals``) and leaves them missing."""
    live = state.live
    if live is None:
        return None

    def read(product_ids: np.ndarray, now_ms: int) -> dict[str, np.ndarray] | None:
        try:
            return live.product_signals(product_ids, now_ms)
        except Exception as exc:  # a backend down or full: the features stay missing, never a 5xx
            degraded("signals", exc)
            return None

    return read


def channel_exposures(state: ServiceState, since_ms: int) -> dict[int, int] | None:
    """The subsidy channel's served impressions per product id since ``since_ms`` (its pacing), or
    None when the live state is off, or the read fails (degraded ``pacing``): pacing is then off."""
    live = state.live
    if live is None or not hasattr(live, "channel_exposures"):
        return None
    try:
        return live.channel_exposures(since_ms)
    except Exception as exc:  # a backend down: the channel is served unpaced, never a 5xx
        degraded("pacing", exc)
        return None
