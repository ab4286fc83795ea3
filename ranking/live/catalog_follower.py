"""Every worker follows the catalog change feed and lays it over each engine it serves.

:class:`CatalogFollower` polls a feed (:mod:`ranking.live.catalog_feed`: this host's log for
the embedded backend, the Redis stream for the Redis backend) every ``live.poll_ms``, folds
the rows into its :class:`~ranking.live.catalog_state.CatalogState` and swaps each served
engine's product table for the overlaid one (:func:`~ranking.live.catalog_overlay.overlay_products`):
only the touched products for an engine already overlaid, every change so far for an engine
it has not seen (a reload, an experiment's bundle). Readers never wait: one attribute
assignment per engine. What the pages keep per product table (derived columns, the per-product
feature table, the homepage lists' available rows) is built for the new table on this thread
before it is swapped in (:mod:`ranking.live.catalog_tables`), so no page after a change builds it.
After each overlay the engine's homepage recalls read which products their ranked lists may
hand out from the new table (``HomepageRecall.follow_catalog``), so a product restocked or
unbanned after the bundle was built returns to the homepage sources.

Products the engine does not know (new products) are handed to the hook
``catalog.new_product_hook`` (``function(engine, rows) -> int``, the newprod part's
``ranking.live.new_products.add_products``) once their rows are complete; when it cannot be
imported, or has not taken them yet, their rows stay in the state, so their bans, stock and
prices apply as soon as the engine knows them. A known product whose title, brand or category
changed is re-indexed in the engine (:func:`~ranking.live.known_product_text.retext_products`:
search, catalog text, card, category columns, homepage leaf lists) after each overlay.
"""

from __future__ import annotations

import importlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from ranking.live.catalog_overlay import overlay_products, overlay_store_names
from ranking.live.catalog_state import CatalogState, CatalogView, Folded
from ranking.live.catalog_tables import prepare_swap, swapped
from ranking.live.known_product_text import TEXT_FIELDS, retext_products

log = logging.getLogger("shelfrank.catalog")
NewProductsHook = Callable[[Any, list[dict]], int]


class CatalogFeed(Protocol):
    """Catalog change rows in order since the last poll: ``(table, row)`` pairs."""

    def poll(self) -> list[tuple[str, dict]]: ...

    def close(self) -> None: ...


def load_hook(path: str) -> NewProductsHook | None:
    """``module:function`` as a callable, or None (logged once) when it cannot be imported."""
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        log.warning("catalog.new_product_hook=%s cannot be loaded (%s): new products wait in the catalog "
                    "state until it can", path, exc)
        return None


class CatalogFollower:
    """Folds a feed's rows and overlays them on the engines ``engines_of()`` gives (module docstring)."""

    def __init__(self, feed: CatalogFeed, engines_of: Callable[[], Iterable[Any]], poll_ms: int,
                 clip: float, hook: NewProductsHook | None = None) -> None:
        self.feed, self.engines_of, self.poll_ms, self.clip, self.hook = feed, engines_of, poll_ms, clip, hook
        self.state = CatalogState()
        self.lock = threading.Lock()  # one applier at a time (the thread, or a caller's catch_up)
        self.polls = 0
        self.folds = 0  # polls that folded some change (a prepared engine missed them: ``swapping``)
        self.failures = 0
        self._overlaid: weakref.WeakSet = weakref.WeakSet()
        self._handed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> product ids handed
        # engine -> (state.rows_folded, weakref to its product table) when no new product waited then
        self._none_waiting: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def view(self, engine: Any) -> CatalogView:
        """What the checks ask (the served ``engine``'s snapshot plus the changes so far)."""
        return CatalogView(lambda: engine.snapshot if engine is not None else None, self.state)

    def start(self) -> int:
        """Fold and overlay the whole feed now, then follow it in the background; return rows read
        (0 when the feed fails now: it is read again every poll)."""
        try:
            rows = self.catch_up()
        except Exception as exc:
            self.failures += 1
            log.error("catalog: reading the changes at start failed (%s: %s); retrying every poll",
                      type(exc).__name__, exc)
            rows = 0
        self._thread = threading.Thread(target=self._run, name="catalog-follower", daemon=True)
        self._thread.start()
        return rows

    def catch_up(self) -> int:
        """One poll: fold the new rows, overlay them on every engine; return how many rows."""
        with self.lock:
            rows = self.feed.poll()
            self.polls += 1
            folded = self.state.fold(rows)
            self.folds += bool(folded)
            for engine in list(self.engines_of()):
                try:
                    self._overlay(engine, folded)
                except Exception:
                    self._overlaid.discard(engine)  # overlay it whole next poll
                    raise
            return len(rows)

    def reapply(self) -> int:
        """Lay every change so far over every engine again, now: for whoever swaps an engine's
        product table for a fresh one (a hot swap of the score and feature tables) and must not
        lose the catalog's changes until the next poll. Return the rows read meanwhile."""
        with self.lock:
            self._overlaid = weakref.WeakSet()
        return self.catch_up()

    def prepare(self, engines: Iterable[Any]) -> int:
        """Lay every change so far over ``engines`` not served yet (a reload's), now, so that they
        are swapped in holding the product table they will serve and what is built for it (the
        per-product feature tables, ~1.5 s of CPU at 1M products, built by the caller next) is
        not swapped away by the next poll. Return the mark to hand :meth:`swapping`."""
        with self.lock:
            for engine in engines:
                if engine not in self._overlaid:
                    try:
                        self._overlay(engine, Folded())
                    except Exception:  # overlaid whole at the first poll after the swap instead
                        self._overlaid.discard(engine)
                        log.exception("catalog: overlaying a reloaded engine before its swap failed")
            return self.folds

    @contextmanager
    def swapping(self, engines: Iterable[Any], mark: int | None) -> Iterator[None]:
        """Hold the follower while the caller swaps in ``engines`` prepared at ``mark``: a change
        folded since then was laid over the served engines only, so the others are overlaid whole
        at the next poll (None: never prepared)."""
        with self.lock:
            if mark != self.folds:
                served = {id(e) for e in self.engines_of()}
                for engine in engines:
                    if id(engine) not in served:
                        self._overlaid.discard(engine)
            yield

    def _overlay(self, engine: Any, folded: Folded) -> None:
        fresh = engine not in self._overlaid
        if not fresh and not folded and not self._waiting(engine):
            return
        snapshot = engine.snapshot
        added = self._hand_new_products(engine)
        target = None if fresh else Folded(folded.products | added, folded.store_bans, folded.stores)
        served = snapshot.products
        products = overlay_products(served, self.state, target, self.clip)
        if products is not served:  # what the pages keep per table, built for the new one first
            prepare_swap(engine, served, products)
        snapshot.products = products
        swapped(engine)
        retexted = self._retext(engine, None if fresh else folded.products)
        snapshot = engine.snapshot
        for recall in getattr(engine, "recall", ()):  # restocked / unbanned back on the homepage lists
            if getattr(recall, "homepage", None) is not None:
                recall.homepage.follow_catalog(snapshot.products)
        if fresh or folded.stores:
            engine.catalog = overlay_store_names(engine.catalog, self.state)
        if retexted:
            self._overlaid.add(engine)
        else:  # the whole overlay (and the re-index) again next poll
            self._overlaid.discard(engine)

    def _retext(self, engine: Any, products: set[int] | None) -> bool:
        """Re-index the known products of ``products`` (None: every changed product) whose title,
        brand or category changed (:mod:`ranking.live.known_product_text`); False when that failed
        (bans, stock and prices are applied all the same; the re-index is retried next poll)."""
        ids = self.state.products.keys() if products is None else products
        rows = [self.state.products[p] for p in ids if self.state.products[p].keys() & set(TEXT_FIELDS)]
        if not rows or not hasattr(engine, "recall"):
            return True
        try:
            changed = retext_products(engine, rows)
        except Exception:
            log.exception("catalog: re-indexing %d products whose text changed failed (retried next poll)",
                          len(rows))
            return False
        if changed:
            log.info("catalog: %d known products re-indexed (title, brand or category)", changed)
        return True

    def _waiting(self, engine: Any) -> bool:
        """Whether some complete new product is not yet in this engine (the hook may take it now).
        An idle poll does not look again (a lookup of every changed product: ~25 us with none) while
        nothing was folded and the engine's product table is the one that had none waiting: the
        answer reads only those (products handed since only wait less)."""
        if self.hook is None:
            return False
        products = engine.snapshot.products
        seen = self._none_waiting.get(engine)
        if seen is not None and seen[0] == self.state.rows_folded and seen[1]() is products:
            return False
        if self._new_products(engine):
            return True
        self._none_waiting[engine] = (self.state.rows_folded, weakref.ref(products))
        return False

    def _new_products(self, engine: Any) -> list[int]:
        ids = np.fromiter(self.state.products, np.int64, len(self.state.products))
        unknown = ids[engine.snapshot.products.rows(ids) < 0].tolist()
        handed = self._handed.get(engine, set())
        return [p for p in unknown if p not in handed and self.state.complete(p)]

    def _hand_new_products(self, engine: Any) -> set[int]:
        """Give the hook the complete rows of products this engine does not know; return their ids."""
        if self.hook is None:
            return set()
        new = self._new_products(engine)
        if not new:
            return set()
        rows = [dict(self.state.products[p]) for p in new]
        self._handed.setdefault(engine, set()).update(new)
        try:
            taken = self.hook(engine, rows)
            log.info("catalog: %d new products handed to the new-product hook, %s taken", len(rows), taken)
        except Exception:  # the hook's failure must not stop the catalog: bans and prices still apply
            log.exception("catalog: the new-product hook failed on %d products (not retried)", len(rows))
        return set(new)

    def _run(self) -> None:
        every = self.poll_ms / 1000.0
        failing = False
        while not self._stop.wait(every):
            try:
                self.catch_up()
            except Exception as exc:  # never let the follower die: the rows stay in the feed, read again
                self.failures += 1
                if not failing:  # one line when it starts failing (Redis down: every poll would fail)
                    log.error("following the catalog changes failed (%s: %s); retrying every poll",
                              type(exc).__name__, exc)
                failing = True
                continue
            if failing:
                log.warning("following the catalog changes works again")
                failing = False

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.feed.close()
