"""How many pages this process is ranking right now (``Pipeline.run`` counts itself in).

Background work that helps later pages (``ranking.recall.homepage_sources.ahead``: a shopper's
homepage lists computed when their events arrive) runs only while this is zero, so it takes an
idle moment of the worker, never a core its pages are using: a worker busy with pages (two workers
at 16 connections hold several each) never starts it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PagesInFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    @contextmanager
    def page(self) -> Iterator[None]:
        """One page being ranked for the whole ``with`` block."""
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1


PAGES = PagesInFlight()  # one per process
