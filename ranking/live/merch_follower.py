"""Every worker follows the rule and synonym changes and publishes the book its requests carry.

:class:`MerchFollower` polls its feeds every ``live.poll_ms`` and folds their lines into a
:class:`~ranking.merchandising.state.MerchandisingState`, whose ``book`` is replaced by one
attribute assignment whenever a line is new: a request reads ``follower.book`` once and ranks
with that one consistent set; readers never wait.

The feeds (the catalog's machinery, :mod:`ranking.live.catalog_feed`, over other tables):

* always this host's event log (:class:`~ranking.live.catalog_feed.LogCatalogFeed` over
  :data:`~ranking.merchandising.changes.MERCH_TABLES`): its first poll reads every line from the
  start, which is the replay at start; the answering worker polls it after its own append, so
  its next page already shows the change;
* with the Redis backend also the stream ``<live.redis_prefix>merchandising`` (the changes of
  every host, pushed by each host's applier, never trimmed): the same line arrives twice for
  this host's changes and folds once (the state skips a ``change`` id it has seen).

A feed that fails (Redis down) is read again next poll; the others still fold.

A new book's indexes (``book.rule_index``, ``book.synonym_index``: built lazily, once per book) are
built here, before the book is published, so no request pays for compiling 10,000 synonym sets
after a change; a change of rules only hands the synonym index on unchanged, and the other way
round (:meth:`~ranking.merchandising.book.MerchandisingBook.succeeded_by`).

After each poll the thread (never a writer's ``catch_up``, never a page) calls ``keep_warm(book,
current)`` outside the fold lock: the service's hook computes the book's synonym terms for each
search index once (:mod:`ranking.recall.held_terms`), ``current()`` saying whether ``book`` is still
the one in force. A long build (a big book at 1M products) asks it between slices, and it polls the
feeds every ``live.poll_ms`` meanwhile, so the worker keeps following the changes and a build for
a replaced book stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ranking.live.catalog_follower import CatalogFeed
from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.state import MerchandisingState

log = logging.getLogger("shelfrank.merchandising")
MERCH_STREAM = "merchandising"


def warmed(book: MerchandisingBook) -> MerchandisingBook:
    """``book`` with its indexes built (module docstring)."""
    for index in ("rule_index", "synonym_index"):
        try:
            getattr(book, index)
        except Exception:  # the request that needs it raises the same, where it is reported
            log.exception("merchandising: building the book's %s failed", index)
    return book


class MerchFollower:
    """Folds its feeds' lines into the book in force (module docstring)."""

    def __init__(self, feeds: Sequence[CatalogFeed], poll_ms: int,
                 keep_warm: Callable[[MerchandisingBook, Callable[[], bool]], None] | None = None) -> None:
        self.feeds, self.poll_ms = list(feeds), poll_ms
        self.keep_warm = keep_warm  # run by the thread after each poll (module docstring)
        self.state = MerchandisingState()
        self._book = self.state.book
        self.lock = threading.Lock()  # one fold at a time (the thread, or a writer's catch_up)
        self.polls = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def book(self) -> MerchandisingBook:
        """The rules and synonyms in force now (a request reads it once)."""
        return self._book

    def start(self) -> int:
        """Fold every feed from its start, then follow them in the background; return lines folded."""
        folded = self.catch_up()
        self._thread = threading.Thread(target=self._run, name="merch-follower", daemon=True)
        self._thread.start()
        return folded

    def catch_up(self) -> int:
        """One poll of every feed; return the new lines folded. A failing feed is logged, counted
        and read again next poll; the others are folded."""
        with self.lock:
            self.polls += 1
            folded = 0
            for feed in self.feeds:
                try:
                    pairs = feed.poll()
                except Exception as exc:
                    self.failures += 1
                    if self.failures == 1 or self.failures % 100 == 0:
                        log.error("merchandising: reading %s failed (%s: %s); retrying every poll",
                                  type(feed).__name__, type(exc).__name__, exc)
                    continue
                folded += self.state.fold(pairs)
            if self.state.book is not self._book:
                self._book = warmed(self.state.book)  # one assignment: readers never wait
            return folded

    def warm(self) -> None:
        """``keep_warm`` for the book in force now, outside the fold lock (module docstring)."""
        if self.keep_warm is None:
            return
        book = self._book
        every, polled = self.poll_ms / 1000.0, [time.monotonic()]

        def current() -> bool:
            if self._stop.is_set():
                return False
            if time.monotonic() - polled[0] >= every:  # keep following while the hook works
                polled[0] = time.monotonic()
                try:
                    self.catch_up()
                except Exception:
                    log.exception("merchandising: folding the changes failed; retrying next poll")
            return self._book is book

        try:
            self.keep_warm(book, current)
        except Exception:  # the pages compute what it would have held
            log.exception("merchandising: keeping the book's synonym terms failed; retrying next poll")

    def _run(self) -> None:
        every = self.poll_ms / 1000.0
        self.warm()
        while not self._stop.wait(every):
            try:
                self.catch_up()
            except Exception:  # never let the follower die: the lines stay in the log
                log.exception("merchandising: folding the changes failed; retrying next poll")
            self.warm()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for feed in self.feeds:
            feed.close()
