"""The Redis live-state backend of the service: one applier per host log, every worker reads Redis.

:class:`RedisLiveBackend` has the :class:`~ranking.live.backend.LiveBackend` methods over a
:class:`~ranking.live.redis_state.RedisLiveState`. Each host keeps its own durable event log
(``serving.events_dir``); several hosts share one Redis (``live.redis_url``, ``live.redis_prefix``).

* **One applier per host log.** Every worker of a host shares the events dir; the one holding an
  exclusive ``flock`` on ``<events_dir>/.live-applier.lock`` tails the log (:class:`LogTail`) every
  ``live.poll_ms`` and applies the new rows to Redis (its pid is in the lock file); the others
  only read. Every worker tries the lock each poll, so when the applier dies (kill -9 frees the
  lock) another one takes over.
* **Positions in Redis.** After each applied poll the tail's positions (file under the events
  dir, inode, offset) are stored at ``<prefix>logpos:<log id>``, the log id being a uuid written
  once in ``<events_dir>/.live-log-id`` (hosts with their own logs do not clash). A new applier
  resumes from them, without replaying; when Redis holds none (new, flushed, restarted without
  persistence, or they vanished while this applier ran) the whole log is replayed from its start.
  Delivery is at least once: a crash or a failing call between the apply and storing the
  positions applies that poll again (counters and lists may hold its rows twice).
* **Catalog changes.** The applier also reads the catalog tables of its log
  (:mod:`ranking.catalog_changes`) and pushes each poll's rows as one entry of the stream
  ``<prefix>catalog`` before it applies the events and stores the positions (at least once);
  every worker of every host follows that stream (:meth:`RedisLiveBackend.catalog_feed`).
* **Merchandising changes.** Likewise the rule and synonym changes
  (:mod:`ranking.merchandising.changes`) go to their own stream ``<prefix>merchandising``, never
  trimmed (a worker that starts must read every rule in force; they are few), which every worker
  follows (:meth:`RedisLiveBackend.merch_feed`, :mod:`ranking.live.merch_follower`).
* **What each poll changed.** After each applied poll the applier names its signed-in shoppers
  (clicks, carts, orders) and its products in the stream ``<prefix>applied`` (trimmed to about
  ``live.redis_applied_stream_max_len`` entries), and every worker reads it each poll
  (:meth:`RedisLiveBackend.follow_applied`, :mod:`ranking.live.applied_feed`): the shoppers go to
  its homepage lists computed ahead (:mod:`ranking.live.homepage_ahead`, while
  ``recall.homepage_lists_ahead``), the products out of the live counters it keeps for its pages
  (:mod:`ranking.live.signals_cache`, while ``live.redis_signals_max_age_ms`` > 0).
* **Failures never lose data.** A failed apply keeps the poll's rows pending and the positions
  unchanged; they are applied again next poll (the log is the truth; the HTTP layer acknowledged
  them once they were durable there). Each failure is reported to ``on_failure("apply", exc)``
  (the service counts and logs it).
* **Reads fail fast.** A read that fails raises ``LiveBackendError`` (the service ranks from the
  bundle's frozen state) and, for ``live.redis_retry_ms``, later reads raise at once without
  asking Redis, so a dead server does not cost every request the timeout.

* **Window totals.** After each poll the applier rolls the products' running window totals to
  its wall clock's bucket; pages only read them, and sum the buckets when they are not current
  (:mod:`ranking.live.redis_state`, ``pcw:``).

Products get their bundle leaf in Redis when the applier first sees them in the log (and the
consumable leaves once per applier), as the embedded backend describes them; an impression and
the service's exposure of one card count once (:class:`~ranking.live.log_rows.FirstShowings`,
per applier: a client impression read by a new applier for a card the old one applied counts
again).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ranking.catalog_changes import CATALOG_TABLES
from ranking.live.applied_feed import AppliedFeed, push_applied, shoppers_touched
from ranking.live.batch import LiveInputError, event_batch
from ranking.live.catalog_feed import RedisCatalogFeed, in_received_order, push_catalog_rows
from ranking.live.channel_exposures import HOUR_MS, KEEP_HOURS, channel_counts
from ranking.live.errors import LiveBackendError
from ranking.live.log_rows import BundleLeaves, FirstShowings, column_tables, products_named
from ranking.live.log_tail import TAILED_TABLES, LogTail
from ranking.live.merch_follower import MERCH_STREAM
from ranking.live.pacer import Pacer, no_pause
from ranking.live.redis_client import guarded
from ranking.live.redis_state import RedisLiveState
from ranking.live.signals_cache import SignalsCache
from ranking.live.state import ShopperView
from ranking.merchandising.changes import MERCH_TABLES
from ranking.settings import LiveSettings, RecallSettings

log = logging.getLogger("shelfrank.live")
LOCK_FILE = ".live-applier.lock"
LOG_ID_FILE = ".live-log-id"
Pairs = list[tuple[str, dict]]
Pending = tuple[dict[str, pa.Table], Pairs, Pairs, dict[str, tuple[int, int]]]  # tables, catalog, merch, at


def log_id(events_dir: Path) -> str:
    """This event log's stable id: the uuid in ``<events_dir>/.live-log-id``, written once (the
    first worker to link its file wins, the others read it)."""
    path = events_dir / LOG_ID_FILE
    if not path.exists():
        tmp = events_dir / f"{LOG_ID_FILE}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp.write_text(uuid.uuid4().hex + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


class RedisLiveBackend:
    """The live state in Redis, fed from this host's event log by one applier (module docstring)."""

    def __init__(self, settings: LiveSettings, events_dir: str | Path,
                 on_failure: Callable[[str, Exception], None] | None = None,
                 state: RedisLiveState | None = None, catalog_stream_max_len: int = 0) -> None:
        self.settings = settings
        self.catalog_stream_max_len = catalog_stream_max_len  # catalog.redis_stream_max_len
        self.events_dir = Path(events_dir)
        self.state = state if state is not None else RedisLiveState(settings)
        self.state.reads_roll = False  # pages read the window totals as they are; the applier rolls
        self.on_failure = on_failure or (lambda reason, exc: None)
        self.log_id = ""
        self.tail: LogTail | None = None  # only while this worker is the applier
        self.rejected_rows = 0  # rows of the log the live state could not take (logged)
        self.apply_failures = 0
        self.replays = 0  # times this worker replayed the whole log (Redis held no positions)
        self._lock_fd: int | None = None
        self._pending: Pending | None = None
        self._stored = False  # positions stored by this applier (so their absence means Redis lost them)
        self._failing = False
        self._showings = FirstShowings()
        self._leaves: BundleLeaves | None = None
        self._consumable: list[int] = []
        self._consumable_sent = False
        self._described: set[int] = set()
        self._skip_until = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # told the signed-in shoppers whose history a poll changed (any host's applier: the
        # applied stream, read each poll while set: ranking/live/applied_feed.py)
        self.on_shoppers: Callable[[list[int]], None] | None = None
        # users named a poll at most: a worker keeps no more waiting (recall.homepage_lists_ahead_pending,
        # which the service sets here when it listens)
        self.shoppers_max = RecallSettings.model_fields["homepage_lists_ahead_pending"].default
        self._applied: AppliedFeed | None = None

    # ---- the applier -----------------------------------------------------------------------
    @property
    def applying(self) -> bool:
        """Whether this worker holds the host's applier lock."""
        return self._lock_fd is not None

    def start(self) -> int:
        """Take the applier lock if free and catch up (resume or replay); follow in the background.
        Return the rows applied now (0 for a reader). Redis being down does not fail the start."""
        applied = self.catch_up()
        self._thread = threading.Thread(target=self._run, name="live-redis-applier", daemon=True)
        self._thread.start()
        return applied

    def catch_up(self, pause: Callable[[], None] | None = None) -> int:
        """One poll: take the lock if free; as the applier apply the rows appended since the
        positions stored in Redis. Return the rows applied (0 on a failure, which is reported).
        ``pause`` (the background applier's :class:`~ranking.live.pacer.Pacer`, as the embedded
        tail's) is called between the poll's steps and every few dozen lines parsed or hundred
        rows checked: its Python (parsing, the first showings, the tables and the checks) held
        the GIL in one go while a page of this worker waited. The rows applied are the same."""
        if not self.log_id:
            self.events_dir.mkdir(parents=True, exist_ok=True)
            self.log_id = log_id(self.events_dir)
        if not self.applying and not self._take_lock():
            return 0
        try:
            applied = self._apply_pending(pause)
        except LiveBackendError as exc:
            self.apply_failures += 1
            if not self._failing:
                log.warning("live state: applying the event log to Redis failed (%s); the rows stay in the "
                            "log and are applied again next poll", exc)
            self._failing = True
            self.on_failure("apply", exc)
            return 0
        if self._failing:
            log.warning("live state: applying to Redis works again")
            self._failing = False
        self._roll_totals()
        return applied

    def _roll_totals(self) -> None:
        """Roll the products' window totals to this host's wall clock's bucket (pages read them
        without rolling: ranking/live/redis_state.py). A failure is no apply failure: the pages
        sum the buckets meanwhile, the next poll rolls again (a rebuild that outlasts the client's
        timeout still completes on the server)."""
        try:
            self.state.roll_totals(int(time.time() * 1000))
        except LiveBackendError as exc:
            log.debug("live state: rolling the window totals failed (%s); next poll", exc)

    def _take_lock(self) -> bool:
        fd = os.open(self.events_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who applies, for operators (and the tests)
        self._lock_fd = fd
        log.info("live state: this worker (pid %d) applies %s to Redis", os.getpid(), self.events_dir)
        return True

    def _positions_key(self) -> str:
        return f"{self.state.prefix}logpos:{self.log_id}"

    def _apply_pending(self, pause: Callable[[], None] | None = None) -> int:
        step = pause or no_pause
        stored = self._stored_positions()
        if self.tail is None or (stored is None and self._stored):
            self._open_tail(stored)
        if self._pending is None:
            rows = self.tail.poll_columns(pause)  # exposures' cards as columns, as the embedded tail
            if not any(map(len, rows.values())):  # the usual poll: nothing new, no pause
                step = no_pause
            step()
            changes = {t: rows.pop(t).rows() for t in CATALOG_TABLES + MERCH_TABLES}  # a few rows: dicts
            catalog, merch = in_received_order(changes), in_received_order(changes, MERCH_TABLES)
            channel = channel_counts(rows["impressions"])  # every showing counts toward a promise
            step()
            rows["impressions"] = self._showings.columns(rows["impressions"], pause)
            step()
            self._pending = (column_tables(rows, pause), catalog, merch, self.tail.positions(), channel)
            step()
        tables, catalog, merch, positions, channel = self._pending
        push_catalog_rows(self.state.redis, self.state.url, self.state.prefix, catalog,
                          self.catalog_stream_max_len)  # first: a failed apply pushes it again, harmless
        push_catalog_rows(self.state.redis, self.state.url, self.state.prefix, merch, 0, MERCH_STREAM)
        named = products_named(tables)  # the apply's and the stream's (none when no tables)
        applied = self._apply(tables, step, named) if tables else 0
        with guarded(self.state.url):  # the channel's counts with the positions, once (one transaction)
            pipe = self.state.redis.pipeline(transaction=True)
            for (hour, product), n in channel.items():
                pipe.hincrby(self._channel_key(hour), str(product), n)
                pipe.expire(self._channel_key(hour), KEEP_HOURS * 3600)
            pipe.set(self._positions_key(), json.dumps(positions), ex=self.state.user_ttl)
            pipe.execute()
        self._pending, self._stored = None, True
        self._push_applied(tables, named)
        return applied

    def _listening(self) -> tuple[bool, bool]:
        """(whether this worker's lists ahead listen for shoppers, whether it keeps the counters its
        pages read): what it reads the applied stream for."""
        return self.on_shoppers is not None, self.settings.redis_signals_max_age_ms > 0

    def _push_applied(self, tables: dict[str, pa.Table], named: np.ndarray) -> None:
        """Name the poll's products to every worker of every host on this prefix (whose kept
        counters they drop, whatever this host's own settings), and its shoppers while this worker
        listens for them (the host's workers share their settings). A failure is no apply failure:
        the lists ahead are a hint, and the kept counters are dropped by age meanwhile."""
        try:
            push_applied(self.state.redis, self.state.url, self.state.prefix,
                         shoppers_touched(tables) if self.on_shoppers is not None else [],
                         named, self.settings.redis_applied_stream_max_len,
                         self.shoppers_max, self.settings.redis_applied_products_max)
        except LiveBackendError as exc:
            log.debug("live state: naming a poll's shoppers and products failed (%s)", exc)

    def follow_applied(self) -> int:
        """Read what any applier named since the last call (the first call only starts listening,
        and from then on this worker keeps the counters its pages read, when it should): drop the
        products named from the kept counters, tell ``on_shoppers`` the shoppers; how many shoppers.
        A failed read is tried again next poll."""
        shoppers, counters = self._listening()
        if not counters:
            self.state.signals = None
        if not shoppers and not counters:
            self._applied = None  # listening again starts from then
            return 0
        if self._applied is None:
            self._applied = AppliedFeed(self.state.redis, self.state.url, self.state.prefix)
        try:
            got = self._read(self._applied.poll)  # not asked while Redis failed lately
        except LiveBackendError as exc:
            log.debug("live state: reading the applied stream failed (%s); next poll", exc)
            return 0
        kept = self.state.signals
        if counters and kept is None:  # listening from now: what changes from now on is named
            self.state.signals = SignalsCache(self.settings.redis_signals_max_age_ms / 1000.0,
                                              self.settings.redis_signals_max_products)
        elif kept is not None and (got.products or got.every_product):
            kept.forget(got.products, got.every_product)
        tell = self.on_shoppers
        if got.users and tell is not None:
            tell(got.users)
        return len(got.users)

    def _channel_key(self, hour: int) -> str:
        return f"{self.state.prefix}chexp:{hour}"

    def channel_exposures(self, since_ms: int) -> dict[int, int]:
        """The subsidy channel's impressions per product id from ``since_ms``'s hour on (a day)."""
        return self._read(self._channel_since, since_ms)

    def _channel_since(self, since_ms: int) -> dict[int, int]:
        first = since_ms // HOUR_MS
        with guarded(self.state.url):
            pipe = self.state.redis.pipeline(transaction=False)
            for hour in range(first, first + 25):
                pipe.hgetall(self._channel_key(hour))
            held = pipe.execute()
        total: Counter = Counter()
        for counts in held:
            total.update({int(k): int(v) for k, v in counts.items()})
        return dict(total)

    def _stored_positions(self) -> dict[str, tuple[int, int]] | None:
        with guarded(self.state.url):
            held = self.state.redis.get(self._positions_key())
        return None if held is None else {k: (int(v[0]), int(v[1])) for k, v in json.loads(held).items()}

    def _open_tail(self, stored: dict[str, tuple[int, int]] | None) -> None:
        """A fresh tail: from the stored positions, or (none stored) from the log's start."""
        if self.tail is not None:
            self.tail.close()
        self.tail, self._pending = LogTail(self.events_dir,
                                                 tables=TAILED_TABLES + CATALOG_TABLES + MERCH_TABLES), None
        self._showings.clear()
        self._described.clear()
        self._consumable_sent = False
        if stored is None:
            self.replays += 1
            log.warning("live state: Redis holds no position of log %s (new, flushed or restarted); "
                        "replaying the whole event log", self.log_id)
        else:
            resumed = self.tail.resume(stored)
            log.info("live state: resuming log %s from its positions in Redis (%d files)", self.log_id,
                     resumed)

    def _apply(self, tables: dict[str, pa.Table], step: Callable[[], None], named: np.ndarray) -> int:
        """Describe the products first named (``named``: :func:`products_named` of ``tables``), then
        replay the rows (a row the state refuses is logged, counted and left out; the others are
        applied); ``step`` between the three."""
        self._describe(named)
        step()
        try:
            for table, rows in tables.items():
                event_batch(table, rows)  # check every row before anything is written
        except LiveInputError as exc:
            tables = self._without_bad_rows(tables, exc)
        step()
        return self.state.replay(tables) if tables else 0

    def _without_bad_rows(self, tables: dict[str, pa.Table], first: LiveInputError) -> dict[str, pa.Table]:
        log.error("the live state refused a logged row (%s); leaving out each row it refuses", first)
        out = {}
        for table, rows in tables.items():
            good = []
            for row in rows.to_pylist():
                try:
                    event_batch(table, [row])
                    good.append(row)
                except LiveInputError:
                    self.rejected_rows += 1
            if good:
                out[table] = pa.Table.from_pylist(good)
        return out

    def _describe(self, product_ids: np.ndarray) -> None:
        if self._leaves is None:
            return
        if not self._consumable_sent and self._consumable:
            self.state.apply("categories", [{"category_id": c, "consumable": True} for c in self._consumable])
            self._consumable_sent = True
        new = np.array([p for p in product_ids.tolist() if p not in self._described], np.int64)
        ids, leaf = self._leaves.of(new)
        if len(ids):
            self.state.apply("products", [{"product_id": p, "category_id": c}
                                          for p, c in zip(ids.tolist(), leaf.tolist(), strict=True)])
        self._described.update(new.tolist())

    def _run(self) -> None:
        every = self.settings.poll_ms / 1000.0
        pacer = Pacer.of(self.settings)
        while not self._stop.wait(every):
            try:
                self.catch_up(pacer.start())
            except Exception:  # never let the applier die: log and try again next poll
                log.exception("applying the event log to Redis failed")
            try:
                self.follow_applied()
            except Exception:  # the lists ahead's own failure: the pages compute as before
                log.exception("following what the appliers changed failed")

    def stop(self) -> None:
        """Stop following, release the applier lock (another worker takes it) and the connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.tail is not None:
            self.tail.close()
            self.tail = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.state.close()

    # ---- reading (every worker) ----------------------------------------------------------------
    def catalog_feed(self) -> RedisCatalogFeed:
        """The catalog changes every host's applier pushed (:mod:`ranking.live.catalog_feed`)."""
        return RedisCatalogFeed(self.state.redis, self.state.url, self.state.prefix)

    def merch_feed(self) -> RedisCatalogFeed:
        """The rule and synonym changes every host's applier pushed (never trimmed)."""
        return RedisCatalogFeed(self.state.redis, self.state.url, self.state.prefix, MERCH_STREAM)

    def describe_catalog(self, product_ids: np.ndarray, leaf: np.ndarray, consumable_leaves: np.ndarray
                         ) -> None:
        """The bundle's product leaves and consumable leaves; the applier writes them to Redis for
        the products the log names (nothing is asked of Redis here)."""
        self._leaves = BundleLeaves(product_ids, leaf)
        self._consumable = [int(c) for c in consumable_leaves]
        self._consumable_sent = False
        self._described.clear()

    def _read(self, call: Callable[..., Any], *args: Any) -> Any:
        if time.monotonic() < self._skip_until:
            raise LiveBackendError(f"Redis failed less than live.redis_retry_ms="
                                   f"{self.settings.redis_retry_ms} ago; not asked")
        try:
            return call(*args)
        except LiveBackendError:
            self._skip_until = time.monotonic() + self.settings.redis_retry_ms / 1000.0
            raise

    def shopper_view(self, user_id: int | None, session_id: str | None = None, at_ms: int | None = None
                     ) -> ShopperView:
        return self._read(self.state.shopper_view, user_id, session_id, at_ms)

    def product_signals(self, product_ids: np.ndarray, at_ms: int | None = None) -> dict[str, np.ndarray]:
        return self._read(self.state.product_signals, product_ids, at_ms)

    def neighbours(self, product_ids: np.ndarray, at_ms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self._read(self.state.neighbours, product_ids, at_ms)


__all__ = ["LOCK_FILE", "LOG_ID_FILE", "RedisLiveBackend", "log_id"]
