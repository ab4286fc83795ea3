"""Windowed counters per product or per store: impressions, clicks, carts, orders and GMV
over the last hour and the last day, in bucketed rings.

A :class:`BucketRing` splits its window into equal buckets (last hour: 6 x 10 minutes; last
day: 24 x 1 hour, settings ``live.hour_bucket_minutes`` / ``live.day_bucket_minutes``). All
rows share one clock: when time enters a new bucket its column is zeroed for every row at
once, so adding is one ``np.add.at`` and memory is rows x buckets x 5 float32 whatever the
traffic. An event older than the window is not counted in it (the log still holds it:
``outside_window`` says how many). A read at ``now`` sums the buckets inside
``(now - window, now]``.

:class:`WindowedCounters` pairs the two rings and derives the live signals: CTR over the
last day shrunk toward the mall-wide CTR (``ctr_prior_impressions`` impressions of it), and
trend = (last-hour interactions + prior) / (the last day's hourly mean + prior).
"""

from __future__ import annotations

import numpy as np

METRICS = ("impressions", "clicks", "carts", "orders", "gmv")
IMPRESSIONS, CLICKS, CARTS, ORDERS, GMV = range(len(METRICS))


UNSTAMPED = -(2**62)  # a slot's stamp before it holds a bucket
WHOLE = 2.0**24  # whole numbers up to this add exactly in float32, in any order


class BucketRing:
    """One window of ``buckets`` x ``bucket_seconds``, per row, for the five metrics.

    The four counts are held bucket-major (buckets x rows x 4), GMV row-major (rows x buckets),
    and beside them each row's running counts over the window ending at the newest bucket
    written (``_window``, float64: added at write time, a bucket's counts taken off when it
    leaves that window). A read in the newest bucket (the service's: the live tail keeps the
    state's clock at the pages' time) takes a row's counts as one row of ``_window`` and its GMV
    as one row of ``_gmv``, where a gather of the bucket-major values reads one cache line per
    row and live bucket (24 a day: ``python -m bench.live_providers BUNDLE --day``). It is
    exact: counts are whole numbers, added and taken off in float64, and float32 sums of whole
    numbers under 2**24 are exact in any order, so a row's running count is its buckets' float32
    sum in slot order. A read gathers as before when a count was given an amount that is not a
    whole number >= 0 or reached 2**24 (``whole_counts`` turns False for good), or when it is
    earlier than the newest bucket. A read later than it takes off the buckets it no longer
    sees. GMV (any float) is always its buckets added one by one in slot order.
    """

    def __init__(self, buckets: int, bucket_seconds: int) -> None:
        self.buckets, self.width = buckets, bucket_seconds
        self._values = np.zeros((buckets, 0, GMV), np.float32)  # the four counts, bucket-major
        self._gmv = np.zeros((0, buckets), np.float32)  # GMV, row-major
        self._window = np.zeros((0, len(METRICS)), np.float64)  # per row: the head window's counts, GMV 0
        self.stamp = np.full(buckets, UNSTAMPED, np.int64)  # absolute bucket each slot holds (none yet)
        self.head = UNSTAMPED  # the newest bucket written: ``stamp.max()``
        self.whole_counts = True  # every count so far a whole number >= 0, under WHOLE: _window exact
        self.totals = np.zeros((buckets, len(METRICS)), np.float64)  # all rows, per slot
        self.outside_window = 0

    @property
    def seconds(self) -> int:
        return self.buckets * self.width

    @property
    def values(self) -> np.ndarray:
        """rows x buckets x 5 (a copy: the counts and GMV side by side)."""
        return np.concatenate([self._values.transpose(1, 0, 2), self._gmv[:, :, None]], axis=2)

    @property
    def capacity(self) -> int:
        """Rows the arrays have room for (rows past those used read 0)."""
        return self._gmv.shape[0]

    def reserve(self, rows: int) -> None:
        held = self.capacity
        if held < rows:  # as catalog.grown: doubling, at least 16, new rows zero
            vars(self).update(self.enlarged(max(rows, 2 * held, 16)))

    def enlarged(self, size: int) -> dict[str, np.ndarray]:
        """The per-row arrays copied into ``size`` rows (or more), new rows zero, by attribute
        name: the ring itself is only read (:mod:`ranking.live.headroom` builds them outside the
        lock, where a writer may swap the arrays between two reads here: each is copied by its
        own length, so that never raises, and such a copy is dropped, a write having come)."""
        old = self._values, self._gmv, self._window
        size = max(size, old[0].shape[1], len(old[1]), len(old[2]))
        values = np.zeros((self.buckets, size, GMV), np.float32)
        gmv = np.zeros((size, self.buckets), np.float32)
        window = np.zeros((size, len(METRICS)), np.float64)
        values[:, :old[0].shape[1]], gmv[:len(old[1])], window[:len(old[2])] = old
        return {"_values": values, "_gmv": gmv, "_window": window}

    def add(self, rows: np.ndarray, times: np.ndarray, metric: int, amounts: np.ndarray) -> None:
        """Add ``amounts`` of one metric to rows at times (a batch may span buckets)."""
        bucket = times.astype(np.int64) // self.width
        if not len(bucket):
            return
        one = bucket.min() == bucket.max()  # the usual case: skip the unique
        for b in ([bucket[0]] if one else np.unique(bucket)):
            slot = int(b % self.buckets)
            sel = bucket == b
            if self.stamp[slot] > b or b <= self.head - self.buckets:
                self.outside_window += int(sel.sum())
                continue
            if b > self.head:
                self._advance(int(b))
            if self.stamp[slot] < b:  # time entered a new bucket: it starts empty for everyone
                self._values[slot] = 0
                self._gmv[:, slot] = 0
                self.totals[slot] = 0
                self.stamp[slot] = b
            self._count(slot, rows[sel], metric, amounts[sel])
            self.totals[slot, metric] += float(amounts[sel].sum())

    def _advance(self, head: int) -> None:
        """``head`` becomes the newest bucket: the buckets that leave its window leave ``_window``
        (before a slot is reused, so a slot's counts are taken off once)."""
        leaving = (self.stamp > self.head - self.buckets) & (self.stamp <= head - self.buckets)
        for slot in np.flatnonzero(leaving & (self.stamp > UNSTAMPED)):
            self._window[:, :GMV] -= self._values[slot]
        self.head = head

    def _count(self, slot: int, rows: np.ndarray, metric: int, amounts: np.ndarray) -> None:
        if metric == GMV:
            np.add.at(self._gmv[:, slot], rows, amounts)
            return
        np.add.at(self._values[slot, :, metric], rows, amounts)
        # float64 amounts: the same adds (float32 -> float64 is exact, and ``add.at`` casts each
        # amount so), in numpy's fast loop (~0.2 ms -> 10 us a poll's ~2,000 rows; mixed dtypes
        # take ``add.at``'s slow path)
        np.add.at(self._window[:, metric], rows, amounts.astype(np.float64))
        if self.whole_counts and len(rows) and not (
                amounts.min() >= 0 and (np.floor(amounts) == amounts).all()
                and self._window[rows, metric].max() <= WHOLE):
            self.whole_counts = False

    def window_start(self, now: np.ndarray | int) -> np.ndarray | int:
        """The first live second counted by a read at ``now``: the start of the oldest bucket of
        the window ``(now - window, now]`` (an event applied in time order is counted by every
        read until its bucket leaves that window)."""
        return (now // self.width - self.buckets + 1) * self.width

    def live_slots(self, now: int) -> np.ndarray:
        """Slots whose bucket lies inside the window ending at ``now``."""
        current = now // self.width
        return np.flatnonzero((self.stamp > current - self.buckets) & (self.stamp <= current))

    def sums(self, rows: np.ndarray, now: int, known: np.ndarray | None = None,
             slots: np.ndarray | None = None, gmv: bool = True) -> np.ndarray:
        """rows x 5 sums over the window ending at ``now`` (rows never counted read 0). ``known``
        (rows this ring holds) and ``slots`` (:meth:`live_slots`) when the caller has them;
        ``gmv=False``: rows x 4, the counts alone (GMV not read)."""
        slots = self.live_slots(now) if slots is None else slots
        known = self.holds(rows) if known is None else known
        if not len(slots) or not known.any():
            out = np.zeros((len(rows), len(METRICS)), np.float64)
        elif known.all():
            out = self._summed(rows, slots, now, gmv)
        else:
            out = np.zeros((len(rows), len(METRICS)), np.float64)
            out[known] = self._summed(rows[known], slots, now, gmv)
        return out if gmv else out[:, :GMV]

    def holds(self, rows: np.ndarray) -> np.ndarray:
        """Which rows this ring counts (-1 and rows past its end read 0)."""
        return (rows >= 0) & (rows < self._values.shape[1])

    def _summed(self, rows: np.ndarray, slots: np.ndarray, now: int, gmv: bool) -> np.ndarray:
        """rows x 5 float64 sums of the ``slots`` (ascending, :meth:`live_slots` of ``now``; GMV 0
        unless ``gmv``)."""
        current = now // self.width
        if self.whole_counts and current >= self.head:
            out = np.take(self._window, rows, axis=0)  # the counts, and a GMV of 0
            if current > self.head:  # a read past the newest bucket: what left its window leaves
                gone = (self.stamp > self.head - self.buckets) & (self.stamp <= current - self.buckets)
                for slot in np.flatnonzero(gone):
                    out[:, :GMV] -= self._values[slot, rows]
        else:
            out = np.zeros((len(rows), len(METRICS)), np.float64)
            out[:, :GMV] = self._counts_summed(rows, slots)
        if gmv:
            out[:, GMV] = self._gmv_summed(rows, slots)
        return out

    def _counts_summed(self, rows: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """rows x 4 float32 sums of the counts, each row's live buckets added in slot order. One
        live slot (a fresh state, a quiet hour) is its values as they are (values are never -0.0:
        a sum of one value is the value); every slot live (a mall running for a whole window)
        gathers each bucket's rows with one take, no slot gather."""
        if len(slots) == 1:
            return self._values[slots[0], rows]
        gathered = (np.take(self._values, rows, axis=1) if len(slots) == self.buckets
                    else self._values[slots[:, None], rows])
        return gathered.sum(axis=0)  # bucket after bucket, as a row's buckets summed in turn

    def _gmv_summed(self, rows: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Each row's GMV over ``slots``, float32 added bucket by bucket in slot order: its row of
        the row-major GMV taken, then the buckets made the outer axis of a C-ordered copy, whose
        sum adds them as whole arrays in turn (a sum along a row's own buckets would add them
        pairwise, another order)."""
        if len(slots) == 1:
            return self._gmv[rows, slots[0]]
        taken = np.take(self._gmv, rows, axis=0)
        return np.ascontiguousarray((taken if len(slots) == self.buckets else taken[:, slots]).T).sum(axis=0)

    def total(self, now: int, slots: np.ndarray | None = None) -> np.ndarray:
        """The five metrics summed over every row in the window (``slots``: :meth:`live_slots`)."""
        return self.totals[self.live_slots(now) if slots is None else slots].sum(axis=0)


def shrunk_ctr(clicks: np.ndarray, impressions: np.ndarray, mall_clicks: np.ndarray | float,
               mall_impressions: np.ndarray | float, prior_impressions: float) -> np.ndarray:
    """Clicks / impressions shrunk toward the mall's CTR (``prior_impressions`` of it; 0 when the
    mall has no impression)."""
    k = prior_impressions
    if isinstance(mall_clicks, float | np.floating) and isinstance(mall_impressions, float | np.floating):
        # one mall (a request's): the same float64 division in Python, not four numpy calls
        shown = float(mall_impressions)
        prior = float(mall_clicks) / shown if shown > 0 else 0.0
        return (clicks + k * prior) / np.maximum(impressions + k, 1e-9)
    clicked, shown = np.asarray(mall_clicks, np.float64), np.asarray(mall_impressions, np.float64)
    prior = np.divide(clicked, shown, out=np.zeros(np.shape(clicked)), where=shown > 0)
    return (clicks + k * prior) / np.maximum(impressions + k, 1e-9)


class WindowedCounters:
    """Last-hour and last-day counters of one kind of row (products or stores)."""

    def __init__(self, hour_bucket_minutes: int, day_bucket_minutes: int, ctr_prior_impressions: float,
                 trend_prior: float) -> None:
        self.hour = BucketRing(max(1, 60 // hour_bucket_minutes), hour_bucket_minutes * 60)
        self.day = BucketRing(max(1, 1440 // day_bucket_minutes), day_bucket_minutes * 60)
        self.ctr_prior_impressions, self.trend_prior = ctr_prior_impressions, trend_prior

    def reserve(self, rows: int) -> None:
        self.hour.reserve(rows)
        self.day.reserve(rows)

    def add(self, rows: np.ndarray, times: np.ndarray, metric: int,
            amounts: np.ndarray | None = None) -> None:
        ok = rows >= 0
        values = np.ones(int(ok.sum()), np.float32) if amounts is None else amounts[ok].astype(np.float32)
        for ring in (self.hour, self.day):
            ring.add(rows[ok], times[ok], metric, values)

    def last_hour(self, rows: np.ndarray, now: int) -> np.ndarray:
        return self.hour.sums(rows, now)

    def last_day(self, rows: np.ndarray, now: int) -> np.ndarray:
        return self.day.sums(rows, now)

    def ctr(self, rows: np.ndarray, now: int) -> np.ndarray:
        """Last-day clicks / impressions, shrunk toward the mall's last-day CTR."""
        return self._ctr(self.last_day(rows, now), now)

    def trend(self, rows: np.ndarray, now: int) -> np.ndarray:
        """Last-hour interactions (clicks, carts, orders) over the last day's hourly mean; 1 = steady."""
        return self._trend(self.last_hour(rows, now), self.last_day(rows, now))

    def signals(self, rows: np.ndarray, now: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(last-hour counts, last-day sums, CTR, trend) of rows: each window summed once, where
        asking ``last_hour``, ``last_day``, ``ctr`` and ``trend`` apart sums the hour twice and
        the day three times (a ranking request reads all four for its candidates). The hour is
        rows x 4, its counts alone: no signal reads the last hour's GMV."""
        known = self.hour.holds(rows)  # the two rings grow together (reserve): one mask for both
        if self.day._values.shape[1] != self.hour._values.shape[1]:
            known = None
        day_slots = self.day.live_slots(now)  # the day's sums and the mall's total read the same slots
        hour = self.hour.sums(rows, now, known, gmv=False)  # the hour's GMV is not a signal
        day = self.day.sums(rows, now, known, day_slots)
        return hour, day, self._ctr(day, now, day_slots), self._trend(hour, day)

    def _ctr(self, day: np.ndarray, now: int, slots: np.ndarray | None = None) -> np.ndarray:
        mall = self.day.total(now, slots)
        return shrunk_ctr(day[:, CLICKS], day[:, IMPRESSIONS], mall[CLICKS], mall[IMPRESSIONS],
                          self.ctr_prior_impressions)

    def _trend(self, hour_sums: np.ndarray, day_sums: np.ndarray) -> np.ndarray:
        # the three columns added in turn: the same sums as ``[:, CLICKS:ORDERS + 1].sum(axis=1)``
        # (numpy adds a row's three in order), at a fifth of the cost of a strided reduction
        def acted(sums: np.ndarray) -> np.ndarray:
            return sums[:, CLICKS] + sums[:, CARTS] + sums[:, ORDERS]

        return self.trend_of(acted(hour_sums), acted(day_sums))

    def trend_of(self, hour: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Trend from last-hour and last-day interaction counts."""
        return (hour + self.trend_prior) / (day * (self.hour.seconds / self.day.seconds) + self.trend_prior)

    def nbytes(self) -> int:
        return sum(r._values.nbytes + r._gmv.nbytes + r._window.nbytes for r in (self.hour, self.day))
