"""Per-shopper history, bounded: rings of the last N interactions, queries and bought items,
and the cards a shopper was shown without clicking.

A :class:`Ring` keeps the last ``size`` values per shopper row in fixed arrays (one row of
``size`` slots per shopper, a counter per row), so memory is rows x size whatever the
shopper's history; appends are vectorised over a batch. :class:`IgnoredCards` keeps, per
shopper, ``size`` (item, times shown, last shown) slots: a new card takes the slot shown
least recently, a click clears the card, and showings older than the window restart at one.
:class:`ShopperHistory` holds the four and folds one shopper's history into another's
(an anonymous session into the user who signs in).
"""

from __future__ import annotations

import numpy as np

from ranking.live.catalog import grown

NEVER = np.iinfo(np.int32).min


class Ring:
    """The last ``size`` values of named columns per row, oldest overwritten first."""

    def __init__(self, size: int, columns: dict[str, np.dtype]) -> None:
        self.size = size
        self.count = np.zeros(0, np.int64)
        self.cols = {name: np.zeros((0, size), dtype) for name, dtype in columns.items()}
        # the slots of a row holding ``count`` values, newest first, are the ``min(count, size)``
        # entries of this from ``size - count % size`` on: (count - 1 - k) % size without the
        # arange and the modulo per read (one request reads three rings)
        self._newest = np.arange(2 * size - 1, -1, -1, dtype=np.intp) % size

    @property
    def capacity(self) -> int:
        """Rows the arrays have room for."""
        return len(self.count)

    def reserve(self, rows: int) -> None:
        if self.capacity < rows:
            vars(self).update(self.enlarged(rows))

    def enlarged(self, rows: int) -> dict[str, object]:
        """The count and the columns with at least ``rows`` rows (doubling; new rows empty), by
        attribute name (the columns a new dict); ``self`` is only read (:mod:`ranking.live.headroom`)."""
        return {"count": grown(self.count, rows, 0),
                "cols": {name: grown(array, rows, 0) for name, array in self.cols.items()}}

    def push(self, rows: np.ndarray, values: dict[str, np.ndarray]) -> np.ndarray:
        """Append values (in time order) to their rows; return each one's sequence number."""
        order = np.argsort(rows, kind="stable")
        r = rows[order]
        uniq, first, counts = np.unique(r, return_index=True, return_counts=True)
        offset = np.arange(len(r)) - np.repeat(first, counts)
        seq = self.count[r] + offset
        keep = offset >= np.repeat(counts, counts) - self.size  # more than size in one batch: the last size
        slot = seq % self.size
        for name, array in self.cols.items():
            array[r[keep], slot[keep]] = values[name][order][keep]
        self.count[uniq] += counts
        out = np.empty(len(rows), np.int64)
        out[order] = seq
        return out

    def at(self, rows: np.ndarray, seq: np.ndarray, name: str) -> np.ndarray:
        """Column ``name`` of entry ``seq`` of each row (the caller checks it is still held)."""
        return self.cols[name][rows, seq % self.size]

    def held(self, rows: np.ndarray, seq: np.ndarray) -> np.ndarray:
        """Whether entry ``seq`` of each row is still in the ring."""
        return (seq >= 0) & (seq < self.count[rows]) & (seq >= self.count[rows] - self.size)

    def read(self, row: int) -> dict[str, np.ndarray]:
        """Every held value of one row, newest first."""
        return dict(zip(self.cols, self.newest(row, *self.cols), strict=True))

    def newest(self, row: int, *names: str) -> list[np.ndarray]:
        """Columns ``names`` of one row's held values, newest first (:meth:`read`'s, as a list)."""
        count = self.count.item(row) if row < len(self.count) else 0
        start = self.size - count % self.size
        at = self._newest[start:start + min(count, self.size)]
        cols = self.cols
        return [cols[name][row][at] for name in names]  # a row's view, then a take: a copy

    def read_rows(self, rows: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`read` of several rows at once, concatenated: (the index into ``rows`` of each
        value, the values), each row's newest first."""
        rows = np.asarray(rows, np.int64)
        inside = rows < len(self.count)
        n = np.zeros(len(rows), np.int64)
        n[inside] = np.minimum(self.count[rows[inside]], self.size)
        of = np.repeat(np.arange(len(rows)), n)
        back = np.arange(len(of)) - np.repeat(np.cumsum(n) - n, n)
        r = rows[of]
        slot = (self.count[r] - 1 - back) % self.size
        return of, {name: array[r, slot] for name, array in self.cols.items()}

    def replace(self, row: int, values: dict[str, np.ndarray]) -> None:
        """Set one row to ``values`` (oldest first; the last ``size`` are kept)."""
        n = len(next(iter(values.values())))
        keep = slice(max(0, n - self.size), n)
        self.count[row] = 0
        for array in self.cols.values():
            array[row] = 0
        if n:
            self.push(np.full(n - keep.start, row, np.int64), {k: v[keep] for k, v in values.items()})

    def nbytes(self) -> int:
        return self.count.nbytes + sum(a.nbytes for a in self.cols.values())


class IgnoredCards:
    """Per shopper: cards shown and not clicked (item row, times shown, last shown)."""

    def __init__(self, size: int, window_seconds: int) -> None:
        self.size, self.window = size, window_seconds
        self.item = np.zeros((0, size), np.int32)
        self.shown = np.zeros((0, size), np.uint16)
        self.last = np.zeros((0, size), np.int32)

    @property
    def capacity(self) -> int:
        """Shopper rows the arrays have room for."""
        return len(self.item)

    def reserve(self, rows: int) -> None:
        if self.capacity < rows:
            vars(self).update(self.enlarged(rows))

    def enlarged(self, rows: int) -> dict[str, np.ndarray]:
        """The arrays with at least ``rows`` rows (doubling; new rows empty), by attribute name;
        ``self`` is only read (:mod:`ranking.live.headroom`)."""
        return {"item": grown(self.item, rows, -1), "shown": grown(self.shown, rows, 0),
                "last": grown(self.last, rows, NEVER)}

    def show(self, rows: np.ndarray, items: np.ndarray, times: np.ndarray) -> None:
        """Count showings of cards (one call per batch of impressions)."""
        key = rows.astype(np.int64) << 32 | items.astype(np.int64)
        keys, inverse = np.unique(key, return_inverse=True)
        shown = np.bincount(inverse, minlength=len(keys))
        last = np.full(len(keys), NEVER, np.int64)
        np.maximum.at(last, inverse, times.astype(np.int64))  # one dtype: ufunc.at's fast loop (~20x)
        r, it = (keys >> 32).astype(np.int64), (keys & 0xFFFFFFFF).astype(np.int32)
        match = self.item[r] == it[:, None]
        hit = match.any(axis=1)
        slot = match.argmax(axis=1)
        hr, hs = r[hit], slot[hit]
        stale = self.last[hr, hs] < last[hit] - self.window  # older showings are forgotten
        base = np.where(stale, 0, self.shown[hr, hs].astype(np.int64))
        self.shown[hr, hs] = np.minimum(base + shown[hit], np.iinfo(np.uint16).max)
        self.last[hr, hs] = np.maximum(self.last[hr, hs], last[hit])
        self._place(r[~hit], it[~hit], shown[~hit], last[~hit], hr, hs)

    def _place(self, r: np.ndarray, it: np.ndarray, shown: np.ndarray, last: np.ndarray,
               hit_rows: np.ndarray, hit_slots: np.ndarray) -> None:
        """New cards take their shopper's least recently shown slots (cards hit in this batch kept)."""
        if not len(r):
            return
        rows, inverse = np.unique(r, return_inverse=True)
        age = self.last[rows].astype(np.int64)
        hit_at = np.searchsorted(rows, hit_rows)
        ok = (hit_at < len(rows)) & (rows[np.minimum(hit_at, len(rows) - 1)] == hit_rows)
        age[hit_at[ok], hit_slots[ok]] = np.iinfo(np.int64).max
        free = np.argsort(age, axis=1, kind="stable")  # oldest slot first
        order = np.lexsort((-last, inverse))  # per shopper, newest card first
        grp = inverse[order]
        rank = np.arange(len(order)) - np.searchsorted(grp, grp)
        fits = rank < (age != np.iinfo(np.int64).max).sum(axis=1)[grp]
        sel, g, k = order[fits], grp[fits], rank[fits]
        slot = free[g, k]
        self.item[rows[g], slot] = it[sel]
        self.shown[rows[g], slot] = np.minimum(shown[sel], np.iinfo(np.uint16).max)
        self.last[rows[g], slot] = last[sel]

    def clear(self, rows: np.ndarray, items: np.ndarray) -> None:
        """The shopper interacted with these cards: they are no longer ignored."""
        match = self.item[rows] == items[:, None]
        r, s = np.nonzero(match)
        self.item[rows[r], s] = -1
        self.shown[rows[r], s] = 0
        self.last[rows[r], s] = NEVER

    def read(self, row: int, now: int) -> tuple[np.ndarray, np.ndarray]:
        """(item rows, times shown) of the cards shown within the window, most shown first."""
        if row >= len(self.item):
            return np.zeros(0, np.int32), np.zeros(0, np.int64)
        items = self.item[row]
        ok = items >= 0
        ok &= self.last[row] >= now - self.window
        at = ok.nonzero()[0]  # the method: np.flatnonzero's wrapper costs ~1 us
        items, shown = items[at], self.shown[row][at].astype(np.int64)
        if len(at) < 2:  # nothing to order
            return items, shown
        order = np.argsort(-shown, kind="stable")
        return items[order], shown[order]

    def read_rows(self, rows: np.ndarray, nows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`read` of several rows, each at its own ``now``, concatenated: (the index into
        ``rows`` of each card, item rows, times shown), each row's most shown first."""
        rows = np.asarray(rows, np.int64)
        if not len(self.item):
            return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64)
        inside = rows < len(self.item)  # a row never reserved holds nothing
        r = np.where(inside, rows, 0)
        item, shown = self.item[r], self.shown[r].astype(np.int64)
        since = (np.asarray(nows, np.int64) - self.window)[:, None]
        ok = (item >= 0) & (self.last[r] >= since) & inside[:, None]
        of, slot = np.nonzero(ok)  # by row, then slot
        order = np.lexsort((-shown[of, slot], of))  # stable: ties keep the slot order
        of, slot = of[order], slot[order]
        return of, item[of, slot], shown[of, slot]

    def reset(self, row: int) -> None:
        self.item[row], self.shown[row], self.last[row] = -1, 0, NEVER

    def nbytes(self) -> int:
        return self.item.nbytes + self.shown.nbytes + self.last.nbytes


class ShopperHistory:
    """Every shopper's bounded history, by shopper row."""

    def __init__(self, interactions: int, queries: int, bought: int, ignored: int,
                 ignore_window_seconds: int) -> None:
        self.interactions = Ring(interactions, {"item": np.dtype(np.int32), "time": np.dtype(np.int32),
                                                "kind": np.dtype(np.int8)})
        self.queries = Ring(queries, {"query": np.dtype(np.int64), "time": np.dtype(np.int32)})
        self.bought = Ring(bought, {"item": np.dtype(np.int32), "time": np.dtype(np.int32)})
        self.ignored = IgnoredCards(ignored, ignore_window_seconds)

    def reserve(self, rows: int) -> None:
        for part in (self.interactions, self.queries, self.bought, self.ignored):
            part.reserve(rows)

    def fold(self, source: int, target: int) -> None:
        """Merge ``source``'s history into ``target``'s (by time) and empty ``source``."""
        for ring in (self.interactions, self.queries, self.bought):
            a, b = ring.read(source), ring.read(target)
            merged = {k: np.r_[a[k][::-1], b[k][::-1]] for k in a}
            order = np.argsort(merged["time"], kind="stable")
            ring.replace(target, {k: v[order] for k, v in merged.items()})
            ring.replace(source, {k: v[:0] for k, v in merged.items()})
        ig = self.ignored
        for s in range(ig.size):
            if ig.item[source, s] >= 0:
                ig.show(np.array([target]), ig.item[source, s:s + 1], ig.last[source, s:s + 1])
                hit = ig.item[target] == ig.item[source, s]
                ig.shown[target, hit] = np.minimum(ig.shown[target, hit].astype(np.int64) - 1
                                                   + ig.shown[source, s], np.iinfo(np.uint16).max)
        ig.reset(source)

    def clear(self, row: int) -> None:
        for ring in (self.interactions, self.queries, self.bought):
            ring.replace(row, {k: v[:0] for k, v in ring.read(row).items()})
        self.ignored.reset(row)

    def nbytes(self) -> int:
        return sum(p.nbytes() for p in (self.interactions, self.queries, self.bought, self.ignored))
