"""A worker's own copy of the live counters its pages read from Redis, kept until they change.

On the Redis backend a page's ``product_signals`` (its candidates' last-hour and last-day sums and
the mall's) cost a round trip and a script on the one Redis thread every page: ~4.9 ms of wall
against ~0.15 embedded (docs/speed.md, "Stop 53"). :class:`SignalsCache` keeps, per window and per
bucket of that window (the sums of a window ending in one bucket are the same for any time in
it), each product's five sums and the mall's, and the state's clock, as Redis gave them:

* **Dropped when the applier changes them.** Every applier pushes the products each poll named
  (:mod:`ranking.live.applied_feed`); every worker's poll drops them (:meth:`forget`), with the
  mall's sums and the clock (any event moves them). "Every product" (a replay) drops all.
* **Never older than** ``live.redis_signals_max_age_ms`` (1,000): the bound when an entry is lost
  (a failed push, a trimmed stream, a worker reading late).
* **No stale value kept by a race.** A page's read that began before a drop is not kept: each
  :meth:`get` returns the cache's generation, :meth:`put` keeps nothing if a drop happened since.
* Read under a lock held for dict lookups only; a worker's pages, its lists-ahead thread and its
  poll thread share it.

So a page reads the very sums Redis would have given at the time they were read, never more than a
poll (or, when an entry is lost, the maximum age) behind Redis. ``live.redis_signals_max_age_ms``
0 keeps nothing (every page asks Redis, as before).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

METRICS = 5  # each product's sums: impressions, clicks, carts, orders, GMV (redis_state.METRIC_FIELDS)


class _Window:
    """One window's kept sums, for one bucket: product -> (its sums, when read), and the mall's."""

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket
        self.rows: dict[int, tuple[np.ndarray, float]] = {}
        self.mall: tuple[np.ndarray, float] | None = None


class SignalsCache:
    """Products' live window sums and the mall's, as Redis last gave them (module docstring)."""

    def __init__(self, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s, self.clock = max_age_s, clock
        self.generation = 0
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._state_clock: tuple[int, float] | None = None
        self.hits = self.misses = 0

    def get(self, window: str, bucket: int, ids: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """(each id's sums, ids x 5, zeros where missing; which ids were found; the mall's sums or
        None; the generation to :meth:`put` with)."""
        out = np.zeros((len(ids), METRICS))
        found = np.zeros(len(ids), dtype=bool)
        oldest = self.clock() - self.max_age_s
        with self._lock:
            kept = self._windows.get(window)
            mall = None
            if kept is not None and kept.bucket == bucket:
                rows = kept.rows
                for i, product in enumerate(ids.tolist()):
                    got = rows.get(product)
                    if got is not None and got[1] >= oldest:
                        out[i], found[i] = got[0], True
                if kept.mall is not None and kept.mall[1] >= oldest:
                    mall = kept.mall[0]
            generation = self.generation
        self.hits += int(found.sum())
        self.misses += len(ids) - int(found.sum())
        return out, found, mall, generation

    def put(self, window: str, bucket: int, ids: np.ndarray, sums: np.ndarray, mall: np.ndarray,
            generation: int, read_at: float) -> None:
        """Keep ``sums`` (ids x 5) and ``mall`` of ``window`` at ``bucket``, read at ``read_at``
        (this cache's clock); nothing if a drop happened since ``generation``."""
        with self._lock:
            if generation != self.generation:
                return
            kept = self._windows.get(window)
            if kept is None or kept.bucket != bucket:
                kept = self._windows[window] = _Window(bucket)  # another bucket: the old sums are of
            for product, row in zip(ids.tolist(), sums, strict=True):  # another window's span
                kept.rows[product] = (row, read_at)
            kept.mall = (mall, read_at)

    def state_clock(self) -> tuple[int | None, int]:
        """(the state's clock as last read, or None when not kept or too old; the generation)."""
        with self._lock:
            kept = self._state_clock
            fresh = kept is not None and kept[1] >= self.clock() - self.max_age_s
            return (kept[0] if fresh else None), self.generation

    def put_state_clock(self, value: int, generation: int, read_at: float) -> None:
        with self._lock:
            if generation == self.generation:
                self._state_clock = (value, read_at)

    def forget(self, products: Iterable[int], every: bool = False) -> None:
        """Drop ``products``' sums (all when ``every``), the mall's and the clock: an applier changed them."""
        with self._lock:
            self.generation += 1
            self._state_clock = None
            for kept in self._windows.values():
                kept.mall = None
                if every:
                    kept.rows.clear()
                else:
                    for product in products:
                        kept.rows.pop(product, None)
