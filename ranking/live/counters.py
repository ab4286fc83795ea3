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


class BucketRing:
    """One window of ``buckets`` x ``bucket_seconds``, per row, for the five metrics.

    The values are held bucket-major (buckets x rows x 5): a read of a page's rows over a whole
    window gathers one block per bucket and adds the buckets as whole arrays, in the same order
    (slot 0 first) as a sum over each row's buckets, so the same float32 sums, without reducing
    the middle axis of rows x buckets x 5 (a short strided inner loop). With the whole day live
    (``python -m bench.live_providers BUNDLE --day``) a homepage's day sums went ~145 -> ~90 us;
    the gather, one cache line per row and bucket of a large state, is most of what is left.
    """

    def __init__(self, buckets: int, bucket_seconds: int) -> None:
        self.buckets, self.width = buckets, bucket_seconds
        self._values = np.zeros((buckets, 0, len(METRICS)), np.float32)
        self.stamp = np.full(buckets, -(2**62), np.int64)  # absolute bucket each slot holds (none yet)
        self.totals = np.zeros((buckets, len(METRICS)), np.float64)  # all rows, per slot
        self.outside_window = 0

    @property
    def seconds(self) -> int:
        return self.buckets * self.width

    @property
    def values(self) -> np.ndarray:
        """rows x buckets x 5 (a view of the bucket-major values)."""
        return self._values.transpose(1, 0, 2)

    def reserve(self, rows: int) -> None:
        held = self._values.shape[1]
        if held < rows:  # as catalog.grown: doubling, at least 16, new rows zero
            out = np.zeros((self.buckets, max(rows, 2 * held, 16), len(METRICS)), np.float32)
            out[:, :held] = self._values
            self._values = out

    def add(self, rows: np.ndarray, times: np.ndarray, metric: int, amounts: np.ndarray) -> None:
        """Add ``amounts`` of one metric to rows at times (a batch may span buckets)."""
        bucket = times.astype(np.int64) // self.width
        if not len(bucket):
            return
        one = bucket.min() == bucket.max()  # the usual case: skip the unique
        for b in ([bucket[0]] if one else np.unique(bucket)):
            slot = int(b % self.buckets)
            sel = bucket == b
            if self.stamp[slot] > b or b <= self.stamp.max() - self.buckets:
                self.outside_window += int(sel.sum())
                continue
            if self.stamp[slot] < b:  # time entered a new bucket: it starts empty for everyone
                self._values[slot] = 0
                self.totals[slot] = 0
                self.stamp[slot] = b
            np.add.at(self._values[slot, :, metric], rows[sel], amounts[sel])
            self.totals[slot, metric] += float(amounts[sel].sum())

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
             slots: np.ndarray | None = None) -> np.ndarray:
        """rows x 5 sums over the window ending at ``now`` (rows never counted read 0). ``known``
        (rows this ring holds) and ``slots`` (:meth:`live_slots`) when the caller has them."""
        slots = self.live_slots(now) if slots is None else slots
        out = np.zeros((len(rows), len(METRICS)), np.float64)
        known = self.holds(rows) if known is None else known
        if len(slots) and known.any():
            out[known] = self._summed(rows[known], slots)
        return out

    def holds(self, rows: np.ndarray) -> np.ndarray:
        """Which rows this ring counts (-1 and rows past its end read 0)."""
        return (rows >= 0) & (rows < self._values.shape[1])

    def _summed(self, rows: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """rows x 5 float32 sums of the ``slots`` (ascending): each row's live buckets added in
        slot order. One live slot (a fresh state, a quiet hour) is its values as they are (values
        are never -0.0: a sum of one value is the value); every slot live (a mall running for a
        whole window) gathers each bucket's rows with one take, no slot gather."""
        if len(slots) == 1:
            return self._values[slots[0], rows]
        gathered = (np.take(self._values, rows, axis=1) if len(slots) == self.buckets
                    else self._values[slots[:, None], rows])
        return gathered.sum(axis=0)  # bucket after bucket, as a row's buckets summed in turn

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
        """(last-hour sums, last-day sums, CTR, trend) of rows: each window summed once, where
        asking ``last_hour``, ``last_day``, ``ctr`` and ``trend`` apart sums the hour twice and
        the day three times (a ranking request reads all four for its candidates)."""
        known = self.hour.holds(rows)  # the two rings grow together (reserve): one mask for both
        if self.day._values.shape[1] != self.hour._values.shape[1]:
            known = None
        day_slots = self.day.live_slots(now)  # the day's sums and the mall's total read the same slots
        hour, day = self.hour.sums(rows, now, known), self.day.sums(rows, now, known, day_slots)
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
        return self.hour._values.nbytes + self.day._values.nbytes
