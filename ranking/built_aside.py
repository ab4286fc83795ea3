"""A table built from the catalog's arrays in a background thread, so no request waits for it.

Some per-product tables (cold start's product facts, the cards' steady badges) are built for
every product once per version of the arrays they read, and each request gathers its
candidates' rows. Built on the request that first sees a new version, a build would stall that
request after every catalog change (4.9 ms for the cold-start facts at 50,000 products, about 20
times that at 1M). :class:`BuiltAside` keeps the last table built with the sources it was built
from: :meth:`ready` returns it while the sources are the same objects, and otherwise starts one
build in a background thread and returns None, and the request computes its candidates' values
itself (the same values: each user tests both ways agree). The live catalog never writes into
a served array (it copies a changed column and swaps the table), so "the same objects" means
"the same values". The memo is one tuple, replaced at once. It pickles empty.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("shelfrank.ranking")


def same_sources(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two source tuples hold the very same objects (numbers compared by value)."""
    return len(a) == len(b) and all(
        x is y or (isinstance(x, int | float | str) and x == y) for x, y in zip(a, b, strict=True))


class BuiltAside(Generic[T]):
    """The last table built, with its sources; builds in a background thread named ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._memo: tuple[tuple[Any, ...], T] | None = None
        self._next: tuple[tuple[Any, ...], T] | None = None  # built by :meth:`prepare`, not asked for yet
        self._building = threading.Lock()

    def ready(self, sources: tuple[Any, ...], build: Callable[[tuple[Any, ...], T | None], T]) -> T | None:
        """The table of ``sources``, or None while it is built aside; ``build(sources, last)``
        makes it (``last``: the previous table, which a build may reuse parts of)."""
        kept = self._kept(sources)
        if kept is not None:
            return kept
        if self._building.acquire(blocking=False):
            threading.Thread(target=self._build, args=(sources, build), daemon=True,
                             name=f"built-aside-{self.name}").start()
        return None

    def _kept(self, sources: tuple[Any, ...]) -> T | None:
        """The table of ``sources`` if built: the one in use, or the one :meth:`prepare` built for
        the swap (then promoted to the one in use)."""
        memo = self._memo
        if memo is not None and same_sources(memo[0], sources):
            return memo[1]
        upcoming = self._next
        if upcoming is not None and same_sources(upcoming[0], sources):  # the swap it was built for
            self._memo, self._next = upcoming, None
            return upcoming[1]
        return None

    def now(self, sources: tuple[Any, ...], build: Callable[[tuple[Any, ...], T | None], T]) -> T:
        """The table of ``sources``, built on this thread when it is not (tests, warm-up)."""
        kept = self._kept(sources)
        if kept is not None:
            return kept
        memo = self._memo
        table = build(sources, None if memo is None else memo[1])
        self._memo = (sources, table)
        return table

    def prepare(self, sources: tuple[Any, ...], build: Callable[[tuple[Any, ...], T | None], T]) -> None:
        """Build the table of ``sources`` now, on this thread, and keep it beside the one requests
        read until a request asks for it: the live catalog calls it before it swaps in the arrays
        ``sources`` holds (new products), so requests on the old arrays keep theirs meanwhile, and
        the first ones after the swap neither start a build nor compete with one."""
        memo = self._memo
        if memo is not None and same_sources(memo[0], sources):
            return
        self._next = (sources, build(sources, None if memo is None else memo[1]))

    def _build(self, sources: tuple[Any, ...], build: Callable[[tuple[Any, ...], T | None], T]) -> None:
        try:
            memo = self._memo
            table = build(sources, None if memo is None else memo[1])
            self._memo = (sources, table)
        except Exception:  # the requests keep computing their own rows
            log.exception("%s not built", self.name)
        finally:
            self._building.release()

    def __getstate__(self) -> dict:
        return {"name": self.name}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["name"])
