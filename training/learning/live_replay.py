"""Training's live features: the mall's logs replayed through a live state, each logged
request featurised from the state as it stood just before it (every event strictly before its
timestamp, none at or after), with the function the service's hydrate calls.

:class:`EventStream` holds the shopper events (impressions, clicks, carts, orders) sorted by
time and cuts them into batches (a run of impressions, then the interactions after them, ...;
at equal times a card's impression comes before its click; one batch per page of impressions
and per run of interactions between pages, whichever requests are featurised, so a sampled
build sees the values the full one does). ``apply_until`` applies them to a
:class:`~ranking.live.state.LiveState` in time order up to a moment, the way the service's
state takes them (the parity test feeds the service that way).

:func:`live_feature_rows` computes the same values in far fewer steps than reading a
time-ordered state at each request (2-3 ms a request: tens of small numpy calls per batch and
per read). It splits what the features read in two:

* **the shopper's view** (interactions, ignored cards) depends only on that shopper's own
  events and on the batch boundaries among them. :class:`ShopperRounds` cuts the stream's
  batches per shopper and applies, in round k, every shopper's k-th piece at once
  (``LiveState.apply_shopper_batch``); a request is read
  (``LiveState.shopper_views``, many at once) before the round holding its shopper's first
  piece at or after it. Product rows are handed out in time order first, as the time-ordered
  replay hands them out, because cards shown at the same moment compete for a shopper's
  ignored slots in row order.
* **the product counters** (CTR, trend, last-hour clicks) are counts of events in windows, the
  same whatever the batching: :meth:`EventStream.product_signals` counts, per card, the events
  the state's bucket rings would hold at its time (``BucketRing.window_start``) and applies
  the counters' own formulas.

Then :func:`ranking.live.features.requests_live_columns` (the many-request form of
``live_feature_columns``, one definition) makes the columns of a round's requests at once.
``tests/test_live_replay.py`` checks the values equal the time-ordered replay's, value by
value; ``tests/test_live_feature_parity.py`` that they equal the service's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pandas as pd
from tqdm import tqdm

from ranking.live.batch import KIND_CODE, EventBatch, concat_batches, to_epoch_ms, to_live_seconds
from ranking.live.counters import WindowedCounters, shrunk_ctr
from ranking.live.features import LIVE_COLUMNS, leaf_lookup, requests_live_columns
from ranking.live.state import LiveState
from ranking.settings import LiveSettings, Settings
from training.data.mall_data import MallTables

INTERACTIONS = ("clicks", "carts", "orders")


def frame_batch(table: str, df: pd.DataFrame) -> EventBatch:
    """A validated contract table's rows as the live state's batch (no per-row Python: the
    contracts already checked them), in the frame's order."""
    n = len(df)

    def ints(name: str) -> np.ndarray:
        if name not in df:
            return np.full(n, -1, np.int64)
        return np.nan_to_num(df[name].to_numpy(dtype=np.float64), nan=-1).astype(np.int64)

    gmv = np.zeros(n, np.float32)
    if table == "orders":
        gmv = (df.price_paid.to_numpy(np.float64) * df.quantity.to_numpy(np.float64)).astype(np.float32)
    cancelled = df.cancelled.to_numpy(bool) if "cancelled" in df else np.zeros(n, bool)
    return EventBatch(table=table, kind=np.full(n, KIND_CODE[table], np.int8),
                      time=to_live_seconds(df.timestamp.to_numpy(np.int64)), user_id=ints("user_id"),
                      session_id=[None] * n, product_id=ints("product_id"), request_id=ints("request_id"),
                      query_id=ints("query_id"), store_id=ints("store_id").astype(np.int32), gmv=gmv,
                      cancelled=cancelled)


def take(batch: EventBatch, rows: np.ndarray) -> EventBatch:
    """The batch's ``rows`` (indices)."""
    return EventBatch(table=batch.table, kind=batch.kind[rows], time=batch.time[rows],
                      user_id=batch.user_id[rows], session_id=[batch.session_id[i] for i in rows],
                      product_id=batch.product_id[rows], request_id=batch.request_id[rows],
                      query_id=batch.query_id[rows], store_id=batch.store_id[rows], gmv=batch.gmv[rows],
                      cancelled=batch.cancelled[rows])


class EventStream:
    """The shopper events of a mall in time order, applied to a state up to a moment."""

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        imp = tables["impressions"]
        acts = [frame_batch(t, tables[t]) for t in INTERACTIONS if t in tables and len(tables[t])]
        act_ms = np.concatenate([tables[t].timestamp.to_numpy(np.int64) for t in INTERACTIONS
                                 if t in tables and len(tables[t])] or [np.zeros(0, np.int64)])
        self.batches = (frame_batch("impressions", imp),
                        concat_batches(acts) if acts else frame_batch("clicks", imp.iloc[:0]))
        self.event_ms = (imp.timestamp.to_numpy(np.int64), act_ms)  # each batch's rows' epoch ms
        ms = np.concatenate(self.event_ms)
        source = np.r_[np.zeros(len(imp), np.int8), np.ones(len(act_ms), np.int8)]
        index = np.r_[np.arange(len(imp)), np.arange(len(act_ms))]
        order = np.lexsort((index, source, ms))  # time, a card's impression before its click
        self.ms, self.source, self.index = ms[order], source[order], index[order]
        self.source_order = order  # stream position -> row of the two batches concatenated
        self.shopper = np.concatenate([b.user_id for b in self.batches])[order]  # -1: no user
        # the one partition into batches, whatever is featurised: a new batch at each change of
        # kind and at each page of impressions (a batch counts its repeats of a card in one
        # window, so other boundaries would change the counts a sampled build sees)
        new = (np.diff(self.source) != 0) | ((self.source[1:] == 0) & (np.diff(self.ms) != 0))
        self.starts = np.r_[0, np.flatnonzero(new) + 1, len(ms)]
        self.done = 0

    def apply_until(self, state: LiveState, before_ms: int) -> int:
        """Apply every event not yet applied whose time is strictly before ``before_ms``."""
        end = int(np.searchsorted(self.ms, before_ms, side="left"))
        if end <= self.done:
            return 0
        inner = self.starts[(self.starts > self.done) & (self.starts < end)]
        for lo, hi in itertools.pairwise(np.r_[self.done, inner, end]):
            state.apply_batch(take(self.batches[int(self.source[lo])], self.index[lo:hi]))
        applied, self.done = end - self.done, end
        return applied

    def product_signals(self, product_ids: np.ndarray, at_ms: np.ndarray, live: LiveSettings
                        ) -> dict[str, np.ndarray]:
        """What the live features read of ``LiveState.product_signals`` (``ctr``, ``trend``,
        ``hour_clicks``) for each product at its own ``at_ms``, as a state fed every event strictly
        before it in time order holds them: an event counts from its time until its bucket
        leaves the window (``BucketRing.window_start``; in time order none arrives outside its
        window), the counts are whole numbers (exact in the rings' float32 below 2**24 a product
        and window), and the formulas are the counters' own (``shrunk_ctr``,
        ``WindowedCounters.trend_of``). Cards go in chunks, so the memory added is the outputs'."""
        counters = WindowedCounters(live.hour_bucket_minutes, live.day_bucket_minutes,
                                    live.ctr_prior_impressions, live.trend_prior)
        imp, act = self.batches
        kept = ~act.cancelled  # a cancelled order is an interaction, not a sale
        picked = {-1: (imp.product_id, self.event_ms[0])}  # -1 impressions, then KIND_CODE 0-2
        for k in (0, 1, 2):
            sel = kept & (act.kind == k)
            picked[k] = (act.product_id[sel], self.event_ms[1][sel])
        events = {k: EventTimes(ids, ms) for k, (ids, ms) in picked.items()}
        # the mall's impressions and clicks: every event as one product's
        mall = {k: EventTimes(np.zeros(len(picked[k][1]), np.int64), picked[k][1]) for k in (-1, 0)}
        pid, at_ms = np.asarray(product_ids, np.int64), np.asarray(at_ms, np.int64)
        out = {name: np.zeros(len(pid), np.float64) for name in ("ctr", "trend", "hour_clicks")}
        for lo in range(0, len(pid), SIGNAL_CHUNK):
            ids, to = pid[lo:lo + SIGNAL_CHUNK], at_ms[lo:lo + SIGNAL_CHUNK]
            now = to_live_seconds(to).astype(np.int64)
            hour_from = to_epoch_ms(counters.hour.window_start(now))
            day_from = to_epoch_ms(counters.day.window_start(now))
            hour = {k: events[k].count(ids, hour_from, to) for k in (0, 1, 2)}
            day = {k: events[k].count(ids, day_from, to) for k in (-1, 0, 1, 2)}
            anywhere = np.zeros(len(ids), np.int64)
            mall_day = {k: mall[k].count(anywhere, day_from, to) for k in (-1, 0)}
            out["ctr"][lo:lo + SIGNAL_CHUNK] = shrunk_ctr(day[0], day[-1], mall_day[0], mall_day[-1],
                                                          counters.ctr_prior_impressions)
            out["trend"][lo:lo + SIGNAL_CHUNK] = counters.trend_of(hour[0] + hour[1] + hour[2],
                                                                   day[0] + day[1] + day[2])
            out["hour_clicks"][lo:lo + SIGNAL_CHUNK] = hour[0]
        return out


SIGNAL_CHUNK = 1 << 20  # cards counted at once


class EventTimes:
    """Events of one kind as (id, epoch ms) keys, sorted, to count an id's events in a time range."""

    def __init__(self, ids: np.ndarray, ms: np.ndarray) -> None:
        self.ids = np.unique(ids)
        self.first = int(ms.min()) if len(ms) else 0
        self.span = int(ms.max()) - self.first + 2 if len(ms) else 1  # times first .. last + 1
        if len(self.ids) * self.span >= 2**62:
            raise ValueError(f"{len(self.ids)} ids over {self.span} ms: keys overflow int64")
        keys = np.searchsorted(self.ids, ids).astype(np.int64)
        keys *= self.span
        keys += ms
        keys -= self.first
        keys.sort()
        self.keys = keys

    def count(self, ids: np.ndarray, from_ms: np.ndarray, to_ms: np.ndarray) -> np.ndarray:
        """For each of ``ids``: how many of its events have a time in ``[from_ms, to_ms)`` (float64)."""
        out = np.zeros(len(ids), np.float64)
        if not len(self.keys) or not len(ids):
            return out
        at = np.clip(np.searchsorted(self.ids, ids), 0, len(self.ids) - 1)
        hit = self.ids[at] == ids
        base = at[hit] * self.span
        # times outside first .. last + 1 count as those bounds: no event lies beyond them
        lo = np.clip(from_ms[hit] - self.first, 0, self.span - 1)
        hi = np.clip(to_ms[hit] - self.first, 0, self.span - 1)
        out[hit] = np.searchsorted(self.keys, base + hi) - np.searchsorted(self.keys, base + lo)
        return out


def live_feature_rows(mall: MallTables, imp: pd.DataFrame, rows: np.ndarray, settings: Settings,
                      progress: bool = False) -> np.ndarray:
    """The live columns (:data:`~ranking.live.features.LIVE_COLUMNS`, float32) of the cards
    ``rows`` of ``imp``, aligned with ``rows``: each request from a state holding every event
    strictly before its timestamp (the values of applying the stream's batches in time order and
    reading each request there, in far fewer steps: module docstring)."""
    out = np.full((len(rows), len(LIVE_COLUMNS)), np.nan, np.float32)
    if not len(rows):
        return out
    sub = imp.iloc[rows]
    request = sub.request_id.to_numpy()
    ts = sub.timestamp.to_numpy(np.int64)
    order = np.lexsort((np.arange(len(rows)), request, ts))  # requests by time, cards together
    starts = np.r_[0, np.flatnonzero(np.diff(request[order]) | np.diff(ts[order])) + 1, len(order)]
    first = order[starts[:-1]]  # each request's first card: its time and shopper
    at_ms = ts[first]
    users = np.nan_to_num(sub.user_id.to_numpy(np.float64), nan=-1).astype(np.int64)[first]  # -1: none
    products = mall["products"].sort_values("product_id")
    known = (products.product_id.to_numpy(np.int64), products.category_id.to_numpy(np.int64))
    stream, pid = EventStream(mall.tables), sub.product_id.to_numpy(np.int64)
    signals = stream.product_signals(pid, ts, settings.live)
    rounds = ShopperRounds(stream, at_ms, users)
    state = LiveState(settings.live)
    for reads in tqdm(rounds.run(state), total=len(rounds), desc="replaying live features", unit="round",
                      disable=not progress):
        if len(reads):
            n = np.diff(starts)[reads]
            cards = order[np.repeat(starts[reads] - (np.cumsum(n) - n), n) + np.arange(n.sum())]
            views = state.shopper_views(users[reads], at_ms[reads])
            cols = requests_live_columns(views, {k: v[cards] for k, v in signals.items()},
                                         np.repeat(np.arange(len(reads)), n), pid[cards],
                                         leaf_lookup(*known, pid[cards]), leaf_lookup(*known, views.items),
                                         settings.live)
            out[cards] = np.stack([cols[name] for name in LIVE_COLUMNS], axis=1)
    return out


class ShopperRounds:
    """The stream's batches cut per shopper and regrouped in rounds: round k applies every
    shopper's k-th piece, so a shopper's view after the rounds before its request is the view a
    time-ordered replay holds at that request (a view reads only its shopper's own events, and
    each shopper's pieces keep the time-ordered replay's batch boundaries)."""

    def __init__(self, stream: EventStream, read_ms: np.ndarray, read_users: np.ndarray) -> None:
        self.stream = stream
        n = len(stream.ms)
        read_at = np.searchsorted(stream.ms, read_ms, side="left")
        # the time-ordered replay's batches: the stream's, also cut where a request reads
        cut = np.zeros(n, np.int32)
        bounds = np.union1d(stream.starts, read_at)
        cut[bounds[(bounds > 0) & (bounds < n)]] = 1
        segment = np.cumsum(cut, dtype=np.int32)
        del cut
        shoppers, shopper = np.unique(stream.shopper, return_inverse=True)
        by_shopper = np.argsort(shopper, kind="stable")  # each shopper's events in stream order
        sh, seg = shopper[by_shopper].astype(np.int32), segment[by_shopper]
        del shopper, segment
        new = np.ones(n, bool)
        new[1:] = (sh[1:] != sh[:-1]) | (seg[1:] != seg[:-1])
        piece = np.cumsum(new, dtype=np.int32) - 1  # pieces numbered in (shopper, time) order
        del seg, new
        first = np.flatnonzero(np.r_[True, sh[1:] != sh[:-1]]) if n else np.zeros(0, np.int64)
        piece -= np.repeat(piece[first], np.diff(np.r_[first, n]))  # each shopper's pieces from 0
        self.round = np.empty(n, np.int32)
        self.round[by_shopper] = piece
        self.count = int(piece.max()) + 1 if n else 0
        # a request reads after its shopper's pieces that start before it: one past the last one's round
        at = np.clip(np.searchsorted(shoppers, read_users), 0, max(len(shoppers) - 1, 0))
        found = (read_users >= 0) & (shoppers[at] == read_users) if n else np.zeros(len(read_ms), bool)
        key = sh.astype(np.int64) * (n + 1) + by_shopper
        before = np.searchsorted(key, at * (n + 1) + read_at, side="left") - 1  # its last event before
        had = found & (before >= 0) & (sh[np.maximum(before, 0)] == at)
        self.read_round = np.where(had, piece[np.maximum(before, 0)] + 1, 0)

    def __len__(self) -> int:
        return self.count + 1

    def run(self, state: LiveState) -> Iterator[np.ndarray]:
        """Yield, before each round and after the last, the requests (indices) to read now."""
        stream = self.stream
        # product rows as the time-ordered replay hands them out (first seen first): ignored cards
        # of equal time compete for a shopper's slots in row order, so the rows must match
        ids = np.concatenate([b.product_id for b in stream.batches])[stream.source_order]
        _, first = np.unique(ids, return_index=True)
        state.catalog.product_rows(ids[np.sort(first)])
        events = np.argsort(self.round, kind="stable")  # by round, then stream order
        cut = np.searchsorted(self.round[events], np.arange(self.count + 1))
        reads = np.argsort(self.read_round, kind="stable")
        read_cut = np.searchsorted(self.read_round[reads], np.arange(self.count + 2))
        for k in range(self.count + 1):
            yield reads[read_cut[k]:read_cut[k + 1]]
            if k < self.count:
                now = events[cut[k]:cut[k + 1]]
                for source in (0, 1):  # one round's impressions and interactions are other shoppers'
                    part = now[stream.source[now] == source]
                    if len(part):
                        state.apply_shopper_batch(take(stream.batches[source], stream.index[part]))
