"""The embedded live-state backend: each worker keeps its own :class:`LiveState`, a view of the log.

:class:`EmbeddedLiveState` needs no server. At :meth:`~EmbeddedLiveState.start` it replays
the durable event log (``serving.events_dir``: every writer's files, the service's own
exposures as impressions), then a background thread tails it (:class:`LogTail`) every
``live.poll_ms`` and applies the lines appended since. A worker's own accepted batch
reaches its state the same way, so the state is a function of the log alone: a worker that
is killed and restarted rebuilds the same state, and an event acknowledged by any worker is
seen by every worker one poll later.

Reads and writes share one lock (a request reads a consistent state; an apply takes
milliseconds). It has :class:`LiveState`'s public reading and writing methods, so the
service and the pipeline do not know which backend they hold (:mod:`ranking.live.backend`).
A client impression and the service's exposure of the same card (request id, product) are
one showing: the second is not applied again (a bounded memory of recent cards).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa

from ranking.live import headroom
from ranking.live.applied_feed import shoppers_touched
from ranking.live.batch import REPLAY_ORDER, LiveInputError, Rows, replay_chunks
from ranking.live.catalog_feed import LogCatalogFeed
from ranking.live.channel_exposures import ChannelExposures, channel_counts
from ranking.live.log_rows import BundleLeaves, FirstShowings, column_tables, products_named
from ranking.live.log_tail import LogTail
from ranking.live.pacer import Pacer, no_pause
from ranking.live.state import LiveState, ShopperView
from ranking.settings import LiveSettings

log = logging.getLogger("shelfrank.live")


class EmbeddedLiveState:
    """A :class:`LiveState` fed by tailing the event log under ``events_dir``."""

    def __init__(self, settings: LiveSettings, events_dir: str | Path) -> None:
        self.settings = settings
        self.state = LiveState(settings)
        self.tail = LogTail(Path(events_dir))
        self.lock = threading.RLock()
        self.rejected_rows = 0  # rows of the log the live state could not take (logged)
        self.polls = 0
        self.headroom: Counter[bool] = Counter()  # growths built aside: adopted (True) or dropped
        self._leaves: BundleLeaves | None = None
        self._first_showings = FirstShowings()
        self.channel = ChannelExposures()  # the subsidy channel's served impressions (pacing)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # told the signed-in shoppers whose history a poll applied (after the apply, outside the
        # lock): ranking.live.homepage_ahead computes their next homepage's lists
        self.on_shoppers: Callable[[list[int]], None] | None = None

    # ---- following the log ---------------------------------------------------------------
    def start(self) -> int:
        """Replay the whole log, then follow it in the background; return the rows replayed."""
        replayed = self.catch_up()
        self._thread = threading.Thread(target=self._run, name="live-tail", daemon=True)
        self._thread.start()
        return replayed

    def catch_up(self, pause: Callable[[], None] | None = None) -> int:
        """Apply every line appended since the last look; return how many rows.

        ``pause`` (the background thread's :class:`Pacer`) is called between the steps done
        before the lock and inside the longer ones (every few dozen lines parsed, every few
        hundred rows checked): a poll holding ~100 pages' exposures is ~10 ms of Python, and
        held in one go it made the page waiting for the GIL one of the slowest in a hundred.
        The steps and the apply are the same with or without it; the apply under the lock is
        one step (a reader sees a poll applied whole or not at all)."""
        step = pause or no_pause
        rows = self.tail.poll_columns(pause)  # exposures' cards as columns, not a dict per card
        self.polls += 1
        if not any(map(len, rows.values())):  # the usual poll: nothing new
            return 0
        step()
        impressions = rows["impressions"]
        channel = channel_counts(impressions)  # a pass over every row, not under the lock
        with self.lock:  # every showing counts toward a brand's promise, not only the first
            self.channel.add_counts(channel)
        rows["impressions"] = self._first_showings.columns(impressions, pause)
        step()
        tables = column_tables(rows, pause)
        if not tables:
            return 0
        step()
        named = products_named(tables)
        try:  # rows checked and made columns before the lock: requests wait only for the apply
            chunks = list(replay_chunks(tables))
        except LiveInputError as exc:
            chunks, refused = None, exc
        step()
        growth = self._grow_aside(tables, named, step)
        with self.lock:
            if growth is not None:  # the larger arrays built above: swapped in, not copied here
                self.headroom[headroom.adopt(self.state, growth)] += 1
            self._describe(named)
            applied = None
            try:
                if chunks is not None:
                    applied = self.state.apply_chunks(chunks)
            except LiveInputError as exc:
                refused = exc
            if applied is None:
                applied = self._apply_one_by_one(tables, refused)
        tell = self.on_shoppers  # read once: the service may clear it meanwhile (stop_live)
        if tell is not None:
            touched = shoppers_touched(tables)
            if touched:
                tell(touched)
        return applied

    def _grow_aside(self, tables: dict[str, pa.Table], named: np.ndarray, pause: Callable[[], None]
                    ) -> headroom.Growth | None:
        """The per-row arrays this poll's rows may outgrow, grown outside the lock
        (:mod:`ranking.live.headroom`; the plan reads the state's sizes under it), or None."""
        try:  # a head start only: whatever goes wrong here, the apply grows what it needs itself
            coming = headroom.incoming(tables, named)
            with self.lock:
                growth = headroom.plan(self.state, coming, self.settings.headroom_share)
            if growth is None:
                return None
            pause()
            return headroom.build(growth, pause)
        except Exception:
            log.exception("growing the live state's arrays before the lock failed; the apply grows them")
            return None

    def _apply_one_by_one(self, tables: dict[str, pa.Table], first: LiveInputError) -> int:
        """A batch holding a row the state refuses: apply the others, count and log that one."""
        log.error("the live state refused a logged row (%s); applying the rest row by row", first)
        applied = 0
        for table in REPLAY_ORDER:
            for row in tables[table].to_pylist() if table in tables else []:
                try:
                    applied += self.state.replay({table: pa.Table.from_pylist([row])})
                except LiveInputError:
                    self.rejected_rows += 1
        return applied

    def _run(self) -> None:
        every = self.settings.poll_ms / 1000.0
        pacer = Pacer.of(self.settings)
        while not self._stop.wait(every):
            try:
                self.catch_up(pacer.start())
            except Exception:  # never let the tail die: log and try again next poll
                log.exception("tailing the event log failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.tail.close()

    # ---- LiveState's API, under the lock ------------------------------------------------
    def apply(self, table: str, rows: Rows) -> int:
        with self.lock:
            return self.state.apply(table, rows)

    def replay(self, tables: Mapping[str, pa.Table], chunk_minutes: float = 60.0) -> int:
        with self.lock:
            return self.state.replay(tables, chunk_minutes)

    def shopper_view(self, user_id: int | None, session_id: str | None = None, at_ms: int | None = None
                     ) -> ShopperView:
        with self.lock:
            return self.state.shopper_view(user_id, session_id, at_ms)

    def product_signals(self, product_ids: np.ndarray, at_ms: int | None = None) -> dict[str, np.ndarray]:
        with self.lock:
            return self.state.product_signals(product_ids, at_ms)

    def channel_exposures(self, since_ms: int) -> dict[int, int]:
        """The subsidy channel's impressions per product id from ``since_ms``'s hour on."""
        with self.lock:
            return self.channel.since(since_ms)

    def describe_catalog(self, product_ids: np.ndarray, leaf: np.ndarray, consumable_leaves: np.ndarray
                         ) -> None:
        """What the bundle knows of products (their leaf rows) and which leaves are consumable.
        Products are described when the log first names them (memory grows with the products
        shoppers touch, not the catalog); the ones already named are described now."""
        with self.lock:
            self._leaves = BundleLeaves(product_ids, leaf)
            self.state.catalog.apply_categories([{"category_id": int(c), "consumable": True}
                                                 for c in consumable_leaves])
            self._describe(self.state.catalog.products.ids)

    def _describe(self, product_ids: np.ndarray) -> None:
        if self._leaves is None:
            return
        ids, leaf = self._leaves.of(product_ids)
        if len(ids):
            self.state.catalog.describe(ids, leaf=leaf)

    def catalog_feed(self) -> LogCatalogFeed:
        """The catalog changes of this host's log, read by each worker (:mod:`ranking.live.catalog_feed`)."""
        return LogCatalogFeed(self.tail.root)

    def merch_feed(self) -> None:
        """None: every worker reads the rule and synonym changes from this host's log itself
        (:mod:`ranking.live.merch_follower`)."""
        return None

    def nbytes(self) -> dict[str, int]:
        with self.lock:
            return self.state.nbytes()

