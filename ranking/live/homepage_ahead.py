"""A shopper's homepage lists computed when their live events arrive, in the worker's idle moments.

A shopper's first homepage after a click pays its recall: the ``personal`` scan over every item
vector (0.39-0.44 ms of thread CPU) and the other sources' first lists for the new history, the recall stage
1.01-1.21 ms of such a page against 0.38-0.51 with the lists kept (``python -m
bench.request_components BUNDLE --app --pipelines homepage --distinct 400 --thread-cpu``, with and
without ``--set recall.homepage_lists_ahead=false``; docs/speed.md "Stop 52"). Every list is kept per
what it reads (the shopper's recent items and weights, their leaves: ``QuotaSource.listed``), so
one computed earlier for the same history is the page's very list.

:class:`ShopperListsAhead` is told the shoppers whose history a poll of the live state changed
(``EmbeddedLiveState.on_shoppers``; the Redis backend's ``on_shoppers``, read from the applied
stream every host's applier writes: :mod:`ranking.live.applied_feed`) and, on its own thread, has
each engine build the shopper's context from the live view and ask every homepage source for its
list, as a page at the current hour would (``Engine.warm_homepage``): the page then reads them
kept. It starts a shopper only while the process's service works on no request (it waits, without
polling, on :data:`ranking.in_flight.IN_FLIGHT`' ``idle`` event), so a worker serving requests back
to back (two workers at 16 connections) does not start it; one shopper's lists (about a first
homepage's recall stage above) started in an idle moment run on beside a request that arrives
meanwhile. The shoppers waiting are bounded (the oldest dropped,
``recall.homepage_lists_ahead_pending``). A list it could not compute (a reload swapping the
recall, a view that failed) is the page's to compute as before: the page's own path never depends
on it. Every engine the service routes to is warmed (an experiment's arms too: their memos are
bounded, oldest out). An anonymous session's click folded into a signed-in user is not told (its
row names no user): that user's page computes as before.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ranking.in_flight import IN_FLIGHT, InFlight

log = logging.getLogger("shelfrank.homepage_ahead")


class ShopperListsAhead:
    """Shoppers' homepage lists computed ahead of their next page (module docstring)."""

    def __init__(self, engines: Callable[[], Iterable[Any]], view_of: Callable[[int], Any],
                 hour_of: Callable[[], int], pending_max: int = 4_096, busy: InFlight = IN_FLIGHT) -> None:
        """``engines``: the engines to warm now (each with ``warm_homepage(user, hour, view)``);
        ``view_of``: a shopper's live view (None: unknown); ``hour_of``: the mall's hour now."""
        self.engines, self.view_of, self.hour_of = engines, view_of, hour_of
        self.pending_max, self.busy = pending_max, busy
        self._pending: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.warmed = self.dropped = self.failed = 0

    def start(self) -> ShopperListsAhead:
        self._thread = threading.Thread(target=self._run, name="homepage-ahead", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def add(self, user_ids: Iterable[int]) -> None:
        """Shoppers whose history just changed (the live tail's thread: a few dict operations)."""
        with self._lock:
            for user in user_ids:
                self._pending.pop(user, None)  # a shopper asked again waits from now
                self._pending[user] = None
            while len(self._pending) > self.pending_max:
                self._pending.popitem(last=False)
                self.dropped += 1
            if self._pending:
                self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _next(self) -> int | None:
        """The oldest shopper waiting, or None (and the thread sleeps until :meth:`add`)."""
        with self._lock:
            if not self._pending:
                self._wake.clear()
                return None
            return self._pending.popitem(last=False)[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            while not self._stop.is_set():
                if not self.busy.idle.is_set():  # a request in flight: sleep until none (no GIL)
                    self.busy.idle.wait(0.5)  # (the timeout only lets stop() be seen)
                    continue
                user = self._next()
                if user is None:
                    break
                self.warm(user)

    def warm(self, user: int) -> None:
        """Every homepage source's list for ``user`` as their next page at this hour asks it."""
        try:
            engines = list({id(e): e for e in self.engines()}.values())  # each once
            if not engines:
                return
            view = self.view_of(user)
            if view is None or not getattr(view, "known", False):
                return
            hour = self.hour_of()
            if sum(bool(engine.warm_homepage(user, hour, view)) for engine in engines):
                self.warmed += 1
        except Exception as exc:  # the page computes what this could not: never fatal here
            self.failed += 1
            if self.failed == 1:
                log.warning("homepage lists ahead: %s (the pages compute them as before)", exc)
