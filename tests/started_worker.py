"""A worker's serving state started in the test's own process: its bundle loaded and warmed, the
live catalog followed (its first overlay laid and the tables built, as ``serving.app``'s start
does), live state off and the follower's own polls far apart (a test polls with ``catch_up``), for
tests of what a start, a reload or a catalog change builds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ranking.settings import load_settings


@contextmanager
def started_state(bundle: Path, events_dir: Path) -> Iterator:
    """The started :class:`serving.state.ServiceState` of ``bundle``, its catalog follower stopped
    at the end."""
    from serving.catalog import start_catalog, stop_catalog
    from serving.state import ServiceState

    settings = load_settings([f"serving.bundle={bundle}", f"serving.events_dir={events_dir}",
                              "live.backend=off", "live.poll_ms=5000"])  # a poll meanwhile finds nothing new
    state = ServiceState(settings)
    state.load_initial()
    start_catalog(state)
    try:
        yield state
    finally:
        stop_catalog(state)
