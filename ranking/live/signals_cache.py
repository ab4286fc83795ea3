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
* Under one lock (a worker's pages, its lists-ahead thread and its poll thread share it), held for
  a few array takes (a window's products found by :class:`~ranking.live.catalog.IdRows`: one take
  while every id the window holds is below 2,097,152, a dict lookup an id once one is not) and
  for a window's growth (a copy of its arrays). A page's 700 candidates: ~30 us to read, ~20 to
  keep (``python -m bench.micro_costs``); a bucket's first keep fills the by-id array anew:
  ~210-240 us with ids below 1M (``signals_cache_first_put_us``), once a bucket a window.
* **Bounded.** A window holds the products read in its bucket, up to
  ``live.redis_signals_max_products`` (100,000; then it starts over): ~175 bytes a product a
  window (IdRows' dict entry, the sums and the time, the arrays' doubling) plus the by-id array,
  4 bytes for each id up to about twice the largest (at most ~17 MB a window): 196 bytes a
  product with 100,000 ids below 100,000, 268 with ids below 1M, 348 below 2M (``python -m
  bench.micro_costs``), so ~40-70 MB a worker at the bound. A page of an earlier time than the
  window's bucket reads but does not keep.

So a page reads the very sums Redis would have given at the time they were read, never more than a
poll (or, when an entry is lost, the maximum age) behind Redis. ``live.redis_signals_max_age_ms``
0 keeps nothing (every page asks Redis, as before).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from ranking.live.catalog import IdRows, grown

METRICS = 5  # each product's sums: impressions, clicks, carts, orders, GMV (redis_state.METRIC_FIELDS)


class _Window:
    """One window's kept sums, for one bucket: a slot per product read (the live catalog's
    :class:`~ranking.live.catalog.IdRows`: a take, not a dict lookup per id, while ids are small),
    its sums and when read (-inf: dropped), and the mall's sums."""

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket
        self.slot = IdRows()
        self.sums = np.zeros((0, METRICS))
        self.read_at = np.zeros(0)
        self.mall: tuple[np.ndarray, float] | None = None

    def slots_of(self, ids: np.ndarray, add: bool = False) -> np.ndarray:
        """Each id's slot (-1: none; ``add``: a new one, the arrays grown by doubling)."""
        if not add:
            return self.slot.find(ids)
        out = self.slot.add(ids)
        self.sums = grown(self.sums, len(self.slot), 0.0)
        self.read_at = grown(self.read_at, len(self.slot), -np.inf)
        return out


class SignalsCache:
    """Products' live window sums and the mall's, as Redis last gave them (module docstring)."""

    def __init__(self, max_age_s: float, max_products: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s, self.max_products, self.clock = max_age_s, max_products, clock
        self.generation = 0
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._state_clock: tuple[int, float] | None = None

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
                slots = kept.slots_of(ids)
                held = slots >= 0
                found[held] = kept.read_at[slots[held]] >= oldest
                out[found] = kept.sums[slots[found]]
                if kept.mall is not None and kept.mall[1] >= oldest:
                    mall = kept.mall[0]
            generation = self.generation
        return out, found, mall, generation

    def put(self, window: str, bucket: int, ids: np.ndarray, sums: np.ndarray, mall: np.ndarray,
            generation: int, read_at: float) -> None:
        """Keep ``sums`` (ids x 5) and ``mall`` of ``window`` at ``bucket``, read at ``read_at``
        (this cache's clock); nothing if a drop happened since ``generation``."""
        with self._lock:
            if generation != self.generation:
                return
            kept = self._windows.get(window)
            if kept is not None and kept.bucket > bucket:  # a page of an earlier time: the newer
                return  # bucket's sums stay (pages at the mall's time would empty them)
            if kept is None or kept.bucket != bucket or len(kept.slot) + len(ids) > self.max_products:
                kept = self._windows[window] = _Window(bucket)  # a later bucket (another span), or full
            slots = kept.slots_of(ids, add=True)
            kept.sums[slots] = sums
            kept.read_at[slots] = read_at
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

    def forget(self, products: np.ndarray | Iterable[int], every: bool = False) -> None:
        """Drop ``products``' sums (all when ``every``), the mall's and the clock: an applier changed
        them (int64 ids: :mod:`ranking.live.applied_feed` parses a stream entry's into that range)."""
        ids = products if isinstance(products, np.ndarray) else np.fromiter(products, np.int64)
        with self._lock:
            self.generation += 1
            self._state_clock = None
            for name, kept in list(self._windows.items()):
                if every:
                    self._windows[name] = _Window(kept.bucket)
                    continue
                kept.mall = None
                slots = kept.slots_of(ids)
                kept.read_at[slots[slots >= 0]] = -np.inf
