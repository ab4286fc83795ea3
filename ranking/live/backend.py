"""Choosing the live-state backend: the one place the service asks for its live state.

:func:`open_live_state` reads ``live.backend``: ``"embedded"`` gives an
:class:`~ranking.live.embedded.EmbeddedLiveState` over ``serving.events_dir`` (each worker
replays and tails the log; no server), ``"off"`` gives None (pages from the bundle's frozen
state only), ``"redis"`` gives a :class:`~ranking.live.redis_backend.RedisLiveBackend` (several
hosts share one Redis; each host's one applier feeds it from its own log). Every backend has
:class:`~ranking.live.state.LiveState`'s public reading methods plus ``start()`` and ``stop()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ranking.live.catalog_follower import CatalogFeed
from ranking.live.embedded import EmbeddedLiveState
from ranking.live.errors import LiveBackendError
from ranking.live.state import ShopperView
from ranking.settings import Settings

__all__ = ["LiveBackend", "LiveBackendError", "open_live_state"]


class LiveBackend(Protocol):
    """What the service and the pipeline use of a live state, whichever backend holds it."""

    def start(self) -> int: ...

    def stop(self) -> None: ...

    def shopper_view(self, user_id: int | None, session_id: str | None = None,
                     at_ms: int | None = None) -> ShopperView: ...

    def product_signals(self, product_ids: np.ndarray, at_ms: int | None = None) -> dict[str, np.ndarray]: ...

    def describe_catalog(self, product_ids: np.ndarray, leaf: np.ndarray,
                         consumable_leaves: np.ndarray) -> None: ...

    def catalog_feed(self) -> CatalogFeed: ...

    def channel_exposures(self, since_ms: int) -> dict[int, int]:
        """The subsidy channel's served impressions per product id since ``since_ms`` (pacing)."""
        ...

    def merch_feed(self) -> CatalogFeed | None:
        """The rule and synonym changes of other hosts (Redis), or None when this host's log is all
        there is (embedded): :mod:`ranking.live.merch_follower`."""
        ...


def open_live_state(settings: Settings, on_failure: Callable[[str, Exception], None] | None = None
                    ) -> LiveBackend | None:
    """The live state ``live.backend`` asks for (not started); None when it is ``"off"``.
    ``on_failure(reason, exc)`` hears of failures a backend survives (Redis: a failed apply)."""
    backend = settings.live.backend
    if backend == "off":
        return None
    if backend == "embedded":
        return EmbeddedLiveState(settings.live, settings.serving.events_dir)
    if backend == "redis":
        from ranking.live.redis_backend import RedisLiveBackend  # imports redis-py: only when chosen

        return RedisLiveBackend(settings.live, settings.serving.events_dir, on_failure,
                                catalog_stream_max_len=settings.catalog.redis_stream_max_len)
    raise LiveBackendError(f"live.backend={backend!r}: not a live-state backend ('embedded', 'redis', 'off')")
