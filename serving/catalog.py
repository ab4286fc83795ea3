"""The live catalog inside the service: the follower started with the app, stopped with it.

:func:`start_catalog` builds a :class:`~ranking.live.catalog_follower.CatalogFollower` over the
feed of the live backend (embedded: this host's log; Redis: the stream every host's applier
feeds; live state off or failed: this host's log), folds and overlays every change so far on the
served engines and builds their per-product feature tables for the overlaid product table (the
warm-up's were built for the table before it) before the worker takes traffic, then follows the
feed every ``live.poll_ms``.
It is kept on ``ServiceState.catalog``. A feed that fails at start (Redis down) fails no start:
the follower retries every poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from ranking.live.catalog_feed import LogCatalogFeed
from ranking.live.catalog_follower import CatalogFollower, load_hook
from serving.state import ServiceState, build_tables, router_engines

log = logging.getLogger("shelfrank.catalog")


def served_engines(state: ServiceState) -> Iterable[Any]:
    """Every distinct engine loaded now (the default and the experiments')."""
    return router_engines(state.router)


def start_catalog(state: ServiceState) -> None:
    """Open the feed, catch up and follow (blocking: run off the event loop)."""
    live = state.live
    feed = live.catalog_feed() if live is not None else LogCatalogFeed(state.events_dir)
    settings = state.settings
    hook = load_hook(settings.catalog.new_product_hook)
    follower = CatalogFollower(feed, lambda: served_engines(state), settings.live.poll_ms,
                               settings.scores.price_advantage_clip, hook)
    started = time.perf_counter()
    rows = follower.start()
    build_tables(served_engines(state), "catalog start")  # an overlay that changed the products
    log.info("catalog: %d change rows replayed and the product tables built in %.2f s", rows,
             time.perf_counter() - started)
    state.catalog = follower


def stop_catalog(state: ServiceState) -> None:
    if state.catalog is not None:
        state.catalog.stop()
        state.catalog = None
