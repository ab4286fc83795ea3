"""What this process is serving right now: the requests its service admitted and the pages it ranks.

Background work that helps later pages (``ranking.live.homepage_ahead``: a shopper's
homepage lists computed when their events arrive) waits on :attr:`PagesInFlight.idle`, set only
while nothing is in flight, so it starts in an idle moment of the worker. The service's admission
(``serving/admission.py``) counts every admitted request from its arrival to its last byte and
``Pipeline.run`` every page it ranks (so an in-process caller without the service counts too): a
worker serving requests back to back (two workers at 16 connections hold several each) is never
idle, and the work waits. A piece of it already started runs on beside a request that arrives
meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PagesInFlight:
    """A count of the requests and pages in flight, and an event set while it is zero."""

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
    def page(self) -> Iterator[None]:
        """One page (or request) in flight for the whole ``with`` block."""
        self.enter()
        try:
            yield
        finally:
            self.leave()


PAGES = PagesInFlight()  # one per process
