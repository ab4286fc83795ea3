"""The requests this process's service is working on right now, and an event set while there are none.

Background work that helps later pages (``ranking.live.homepage_ahead``: a shopper's homepage
lists computed when their events arrive) waits on :attr:`InFlight.idle`, so it starts in an idle
moment of the worker. The service's admission (``serving/admission.py``) counts every admitted
request from its arrival to its last byte: a worker serving requests back to back (two workers at
16 connections hold several each) is never idle, and the work waits. A piece of it already started
runs on beside a request that arrives meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """A count of the requests in flight, and an event set while it is zero."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self.idle = threading.Event()
        self.idle.set()

    @property
    def count(self) -> int:
        return self._count

    def enter(self) -> None:
        with self._lock:
            self._count += 1
            if self._count == 1:
                self.idle.clear()

    def leave(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0:
                self.idle.set()

    @contextmanager
    def held(self) -> Iterator[None]:
        """One request in flight for the whole ``with`` block."""
        self.enter()
        try:
            yield
        finally:
            self.leave()


IN_FLIGHT = InFlight()  # one per process
