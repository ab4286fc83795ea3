"""The live state: a bounded, rebuildable view of the event log, and its read API.

:class:`LiveState` takes logged rows (``apply(table, rows)``: impressions, clicks, carts and
orders in the contract shapes, plus ``products`` and ``categories`` rows of the catalog) and
keeps, per shopper, the bounded history (:mod:`ranking.live.history`), per product and per
store the windowed counters (:mod:`ranking.live.counters`), and item-to-item co-visitation
(:mod:`ranking.live.covisitation`). :meth:`LiveState.replay` rebuilds it from the durable
log's tables in time order, the way a worker starts and the way training replays a day.
:meth:`LiveState.shopper_view` is what a request reads: a :class:`ShopperView`.
Training's live replay (:mod:`training.learning.live_replay`) uses two more:
:meth:`LiveState.apply_shopper_batch` (only the shoppers' part of a batch, so shoppers' batches
may come out of global time order) and :meth:`LiveState.shopper_views` (many requests' views at
once, as one :class:`ShopperViews`). Every cap and window comes from settings ``live.*``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ranking.live.batch import (
    EPOCH_MS,
    KINDS,
    EventBatch,
    Rows,
    event_batch,
    live_second,
    replay_chunks,
    to_epoch_ms,
    to_live_seconds,
)
from ranking.live.catalog import LiveCatalog
from ranking.live.counters import CARTS, CLICKS, GMV, IMPRESSIONS, ORDERS, WindowedCounters
from ranking.live.covisitation import CoVisitation
from ranking.live.history import ShopperHistory
from ranking.live.shoppers import ShopperRows
from ranking.membership import isin_few
from ranking.settings import LiveSettings
from ranking.sorted_sets import unique_sorted

METRIC = {0: CLICKS, 1: CARTS, 2: ORDERS}
ORDER = 2
EMPTY_I64 = np.zeros(0, np.int64)
NEVER = int(np.iinfo(np.int32).min)  # the clock before any event


@dataclass
class ShopperView:
    """What one request knows of its shopper, newest first; ids are the mall's (product_id...)."""

    user_id: int | None
    session_id: str | None
    known: bool
    now_ms: int
    items: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    times_ms: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # index into KINDS
    leaves: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    stores: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    brands: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    queries: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    query_times_ms: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    bought: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    ignored: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    ignored_shown: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    exclude: np.ndarray = field(default_factory=lambda: EMPTY_I64)

    def recent_items(self, n: int | None = None) -> np.ndarray:
        """Distinct items, most recent interaction first. A dict keeps each id at its first (newest)
        place: on a view's few dozen items, a fifth of ``np.unique(return_index=True)``'s sort and
        takes (a first-time shopper's homepage context reads it)."""
        return np.array(list(dict.fromkeys(self.items.tolist()))[:n], dtype=self.items.dtype)

    def leaf_affinity(self, within_ms: int) -> dict[int, float]:
        """Share of the interactions of the last ``within_ms`` per leaf (this session's intent)."""
        keep = self.times_ms >= self.now_ms - within_ms
        keep &= self.leaves >= 0
        recent = self.leaves[keep].tolist()
        counts: dict[int, int] = {}
        for leaf in recent:  # first seen first, as a Counter orders them (a shopper's ~20 touches)
            counts[leaf] = counts.get(leaf, 0) + 1
        return {leaf: c / len(recent) for leaf, c in counts.items()}


@dataclass
class ShopperViews:
    """Several requests' shoppers at once, as :class:`ShopperView` columns concatenated in
    request order (each request's newest first); ``item_of`` / ``ignored_of`` give each
    entry's request (an index into ``known`` and ``now_ms``)."""

    known: np.ndarray  # bool per request
    now_ms: np.ndarray  # int64 per request
    item_of: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    items: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    times_ms: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    kinds: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    ignored_of: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    ignored: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    ignored_shown: np.ndarray = field(default_factory=lambda: EMPTY_I64)

    @classmethod
    def of(cls, view: ShopperView | None, now_ms: int) -> ShopperViews:
        """One request's view (None: live off or degraded) at ``now_ms``."""
        now = np.array([now_ms], np.int64)  # np.full's wrapper costs twice this
        if view is None or not view.known:
            return cls(np.zeros(1, bool), now)
        return cls(np.array([True]), now, np.zeros(len(view.items), np.int64),
                   view.items, view.times_ms, view.kinds, np.zeros(len(view.ignored), np.int64),
                   view.ignored, view.ignored_shown)


class LiveState:
    """Shoppers, products and stores as of the last applied event."""

    def __init__(self, settings: LiveSettings | None = None) -> None:
        s = self.settings = settings or LiveSettings()
        self.catalog = LiveCatalog()
        self.shoppers = ShopperRows()
        self.history = ShopperHistory(s.recent_interactions, s.recent_queries, s.bought_items,
                                      s.ignored_items, int(s.ignore_window_hours * 3600))
        counters = (s.hour_bucket_minutes, s.day_bucket_minutes, s.ctr_prior_impressions, s.trend_prior)
        self.products = WindowedCounters(*counters)
        self.stores = WindowedCounters(*counters)
        self.covisitation = CoVisitation(s.covisit_neighbours, s.covisit_half_life_hours * 3600,
                                         s.covisit_backward_weight)
        self.clock = NEVER  # live seconds of the latest event applied
        # batches applied: a write to the per-row arrays moves it on (ranking.live.headroom checks it)
        self.writes = 0
        self._next_sweep = np.iinfo(np.int64).min
        self.applied: Counter[str] = Counter()

    # ---- writing -------------------------------------------------------------------------
    def apply(self, table: str, rows: Rows) -> int:
        """Apply logged rows of one table; return how many. Bad rows raise LiveInputError."""
        if table in ("products", "categories"):
            rows_list = rows.to_pylist() if isinstance(rows, pa.Table) else list(rows)
            (self.catalog.apply_products if table == "products" else self.catalog.apply_categories)(rows_list)
            self.applied[table] += len(rows_list)
            return len(rows_list)
        batch = event_batch(table, rows)
        self._apply_batch(batch)
        self.applied[table] += len(batch)
        return len(batch)

    def apply_batch(self, batch: EventBatch) -> int:
        """Apply an already checked batch (:func:`ranking.live.batch.event_batch`, or training's
        columns of a validated table); return how many rows."""
        self._apply_batch(batch)
        self.applied[batch.table] += len(batch)
        return len(batch)

    def apply_shopper_batch(self, batch: EventBatch) -> int:
        """Apply only what shopper views read (interactions, queries, bought items, ignored
        cards, folds) of a checked batch; return how many rows. For a replay that reads views
        alone and so may apply shoppers' batches out of global time order, each shopper's own in
        order (training's live replay): the counters, co-visitation and the clock are untouched."""
        self.writes += 1
        if len(batch):
            order, shoppers, items, times, folds = self._shopper_rows(batch)
            if batch.kind[0] < 0:
                self._remember_impressions(batch, order, shoppers, items, times)
            else:
                self._remember_interactions(batch, order, shoppers, items, times)
            self._fold(folds)
        self.applied[batch.table] += len(batch)
        return len(batch)

    def _apply_batch(self, batch: EventBatch) -> None:
        """Apply a checked batch: impressions only, or interactions (clicks, carts, orders) only."""
        self.writes += 1
        if not len(batch):
            return
        order, shoppers, items, times, folds = self._shopper_rows(batch)
        stores = self.catalog.store_rows_of(items, batch.store_id[order])
        self.stores.reserve(len(self.catalog.stores))
        if batch.kind[0] < 0:
            self.products.add(items, times, IMPRESSIONS)
            self.stores.add(stores, times, IMPRESSIONS)
            self._remember_impressions(batch, order, shoppers, items, times)
        else:
            self._count_interactions(batch, order, items, stores, times)
            seq = self._remember_interactions(batch, order, shoppers, items, times)
            self._learn_covisitation(shoppers, items, times, seq)
        self._fold(folds)
        self._advance(int(times.max()))

    def _shopper_rows(self, batch: EventBatch
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int]]]:
        """The batch's time order, its shoppers' rows, item rows and times (in that order), and folds."""
        order = np.argsort(batch.time, kind="stable")
        shoppers, folds = self.shoppers.resolve(batch.user_id[order], _in_order(batch.session_id, order),
                                                batch.time[order])
        self.history.reserve(self.shoppers.rows)
        return order, shoppers, self._item_rows(batch, order), batch.time[order], folds

    def _fold(self, folds: list[tuple[int, int]]) -> None:
        for source, target in folds:
            self.history.fold(source, target)
            self.shoppers.release(source)

    def _item_rows(self, batch: EventBatch, order: np.ndarray) -> np.ndarray:
        items = self.catalog.product_rows(batch.product_id[order])
        if (batch.kind == ORDER).any():
            self.catalog.describe(batch.product_id[order], store=batch.store_id[order])
        n = len(self.catalog.products)
        self.products.reserve(n)
        self.covisitation.reserve(n)
        return items

    def _remember_impressions(self, batch: EventBatch, order: np.ndarray, shoppers: np.ndarray,
                              items: np.ndarray, times: np.ndarray) -> None:
        self.history.ignored.show(shoppers, items, times)
        query, request = batch.query_id[order], batch.request_id[order]
        searched = np.flatnonzero(query >= 0)
        if len(searched):  # one query per request (a page holds many cards)
            pick = searched[_first_of_pairs(shoppers[searched], request[searched])]
            self.history.queries.push(shoppers[pick], {"query": query[pick], "time": times[pick]})

    def _count_interactions(self, batch: EventBatch, order: np.ndarray, items: np.ndarray, stores: np.ndarray,
                            times: np.ndarray) -> None:
        counted = ~batch.cancelled[order]  # a cancelled order is an interaction, not a sale
        kinds = batch.kind[order]
        for kind, metric in METRIC.items():
            sel = counted & (kinds == kind)
            if sel.any():
                self.products.add(items[sel], times[sel], metric)
                self.stores.add(stores[sel], times[sel], metric)
        sold = counted & (kinds == ORDER)
        if sold.any():
            gmv = batch.gmv[order][sold]
            self.products.add(items[sold], times[sold], GMV, gmv)
            self.stores.add(stores[sold], times[sold], GMV, gmv)

    def _remember_interactions(self, batch: EventBatch, order: np.ndarray, shoppers: np.ndarray,
                               items: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Push the interactions (and sales) to their shoppers' rings; return their sequence numbers."""
        kinds = batch.kind[order]
        sold = ~batch.cancelled[order] & (kinds == ORDER)
        if sold.any():
            self.history.bought.push(shoppers[sold], {"item": items[sold], "time": times[sold]})
        seq = self.history.interactions.push(shoppers, {"item": items, "time": times, "kind": kinds})
        self.history.ignored.clear(shoppers, items)
        return seq

    def _learn_covisitation(self, shoppers: np.ndarray, items: np.ndarray, times: np.ndarray,
                            seq: np.ndarray) -> None:
        s = self.settings
        ring = self.history.interactions
        here = ring.held(shoppers, seq)
        before, after, weight, when = [], [], [], []
        for j in range(1, min(s.covisit_lookback, ring.size - 1) + 1):
            ok = here & ring.held(shoppers, seq - j)
            prev = np.where(ok, ring.at(shoppers, seq - j, "item"), -1)
            gap = times - ring.at(shoppers, seq - j, "time")
            ok &= (gap <= s.covisit_window_minutes * 60) & (prev != items)
            before.append(prev[ok])
            after.append(items[ok])
            weight.append(np.full(int(ok.sum()), 1.0 / j, np.float32))
            when.append(times[ok])
        self.covisitation.learn(np.concatenate(before), np.concatenate(after), np.concatenate(weight),
                                np.concatenate(when))

    def _advance(self, latest: int) -> None:
        self.clock = max(self.clock, latest)
        if self.clock >= self._next_sweep:
            ttl = int(self.settings.session_ttl_hours * 3600)
            for row in self.shoppers.expire(self.clock, ttl):
                self.history.clear(row)
                self.shoppers.release(row)
            self._next_sweep = self.clock + max(60, ttl // 24)

    def replay(self, tables: Mapping[str, pa.Table], chunk_minutes: float = 60.0) -> int:
        """Rebuild from logged tables (as ``read_event_log`` returns them), in time order: each
        chunk of ``chunk_minutes`` applies its impressions, then its clicks, carts and orders
        together in time order (:func:`ranking.live.batch.replay_chunks`)."""
        return self.apply_chunks(replay_chunks(tables, chunk_minutes))

    def apply_chunks(self, chunks: Iterable[tuple[dict[str, int], list[EventBatch]]]) -> int:
        """Apply what :func:`ranking.live.batch.replay_chunks` made of logged tables; return the
        rows. :meth:`replay` is both steps; a backend that shares the state with readers checks
        and converts the rows (the first step) before it takes its lock for this one."""
        applied = 0
        for counts, batches in chunks:
            self.applied.update(counts)
            applied += sum(counts.values())
            for batch in batches:
                self._apply_batch(batch)
        return applied

    # ---- reading -------------------------------------------------------------------------
    def now_ms(self, at_ms: int | None = None) -> int:
        """The state's clock in epoch ms (a request's own time if later)."""
        clock = int(self.clock) * 1000 + EPOCH_MS if self.clock > NEVER else 0  # to_epoch_ms's
        return max(clock, at_ms or 0)

    def shopper_view(self, user_id: int | None, session_id: str | None = None, at_ms: int | None = None
                     ) -> ShopperView:
        """The shopper of a request: the user's if ``user_id`` is set (their folded sessions
        included), else the session's; an unknown shopper gets an empty view."""
        now_ms = self.now_ms(at_ms)
        row = self.shoppers.find(user_id, session_id)
        if row < 0:
            return ShopperView(user_id, session_id, False, now_ms)
        h, cat, pid = self.history, self.catalog, self.catalog.products.ids
        # each ring's columns as a list (no dict), Python ints for the clock, takes, and the
        # times' int64 copy scaled in place: ~20 numpy calls fewer than reading each whole
        item, time, kind = h.interactions.newest(row, "item", "time", "kind")
        query, query_time = h.queries.newest(row, "query", "time")
        (bought,) = h.bought.newest(row, "item")
        ignored, shown = h.ignored.read(row, live_second(now_ms))
        return ShopperView(
            user_id, session_id, True, now_ms, items=pid.take(item), times_ms=_epoch_ms(time), kinds=kind,
            leaves=cat.leaf.take(item).astype(np.int64), stores=cat.store.take(item).astype(np.int64),
            brands=cat.brand.take(item).astype(np.int64), queries=query, query_times_ms=_epoch_ms(query_time),
            bought=pid.take(bought), ignored=pid.take(ignored), ignored_shown=shown,
            exclude=self._exclude(bought, ignored, shown),
        )

    def _exclude(self, bought: np.ndarray, ignored: np.ndarray, shown: np.ndarray) -> np.ndarray:
        """Product ids a shopper is not shown again: bought non-consumables (a consumable may
        come back) and cards shown ``ignore_after_impressions`` times without a click."""
        cat, pid = self.catalog, self.catalog.products.ids
        # ``shown`` is most shown first (IgnoredCards.read): none is tired unless the first is
        after = self.settings.ignore_after_impressions
        tired = ignored[shown >= after] if len(shown) and shown[0] >= after else ignored[:0]
        final = bought[~isin_few(cat.leaf[bought], cat.consumable_leaves)] if len(bought) else bought
        if not len(final) and not len(tired):  # the usual shopper: nothing to sort
            return EMPTY_I64
        return unique_sorted(np.concatenate([pid[final], pid[tired]]))

    def shopper_views(self, user_ids: np.ndarray, at_ms: np.ndarray) -> ShopperViews:
        """What :meth:`shopper_view` reads for the features (interactions, ignored cards) of
        several signed-in users (-1: none, unknown), each at its own ``at_ms`` (taken as is, not
        raised to the state's clock: a replay applying shoppers out of global time order)."""
        find = self.shoppers.users.get
        rows = np.fromiter((find(u, -1) for u in np.asarray(user_ids, np.int64).tolist()), np.int64,
                           len(user_ids))
        known, now_ms = rows >= 0, np.asarray(at_ms, np.int64)
        back = np.flatnonzero(known)
        h, pid = self.history, self.catalog.products.ids
        of, it = h.interactions.read_rows(rows[known])
        ig_of, ignored, shown = h.ignored.read_rows(rows[known], to_live_seconds(now_ms[known]))
        return ShopperViews(known, now_ms, back[of], pid[it["item"]], to_epoch_ms(it["time"]), it["kind"],
                            back[ig_of], pid[ignored], shown)

    def product_signals(self, product_ids: np.ndarray, at_ms: int | None = None) -> dict[str, np.ndarray]:
        """Live counters of candidates: last-hour and last-day clicks, orders, GMV, CTR and trend (and the
        last day's impressions, which cold start's posteriors count)."""
        rows = self.catalog.products.find(np.asarray(product_ids, np.int64))
        now = live_second(self.now_ms(at_ms))  # to_live_seconds without numpy
        hour, day, ctr, trend = self.products.signals(rows, now)
        return {"hour_impressions": hour[:, IMPRESSIONS], "hour_clicks": hour[:, CLICKS],
                "day_clicks": day[:, CLICKS], "day_orders": day[:, ORDERS], "day_gmv": day[:, GMV],
                "day_impressions": day[:, IMPRESSIONS], "ctr": ctr, "trend": trend}

    def neighbours(self, product_ids: np.ndarray, at_ms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Co-visited neighbours of products: (product ids, decayed weights), products x
        ``covisit_neighbours``, strongest first; -1 / 0 where empty or the product is unknown."""
        rows = self.catalog.products.find(np.asarray(product_ids, np.int64)).astype(np.int64)
        now = int(to_live_seconds(self.now_ms(at_ms)))
        n, w = self.covisitation.neighbours(np.where(rows >= 0, rows, 2**31), now)
        known = self.catalog.products.ids
        ids = np.where(n >= 0, known[np.maximum(n, 0)], -1) if len(known) else np.full(n.shape, -1)
        return ids.astype(np.int64), w

    def nbytes(self) -> dict[str, int]:
        """Bytes held per part (numpy arrays exactly; id maps approximately)."""
        return {"shoppers": self.shoppers.nbytes(), "history": self.history.nbytes(),
                "catalog": self.catalog.nbytes(), "product_counters": self.products.nbytes(),
                "store_counters": self.stores.nbytes(), "covisitation": self.covisitation.nbytes()}


def _in_order(sessions: list[str | None], order: np.ndarray) -> list[str | None]:
    """``sessions`` taken in ``order`` (under the tail's lock): a list indexed by Python ints, not
    numpy's one by one (about half the cost on a poll's ~2,000 impressions); none named, no take."""
    if sessions.count(None) == len(sessions):
        return [None] * len(sessions)
    return list(map(sessions.__getitem__, order.tolist()))


def _first_of_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Positions of each distinct (a, b) pair's first row, ascending: ``np.unique(np.c_[a, b],
    axis=0, return_index=True)``'s index sorted, without its sort of 16-byte void rows (~40 times
    slower on a poll's ~1,000 searched impressions). ``np.lexsort`` is stable, so a pair's rows
    stay in order and the first of each run is its first row."""
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    new = np.empty(len(order), bool)
    new[:1] = True
    np.not_equal(a[1:], a[:-1], out=new[1:])
    new[1:] |= b[1:] != b[:-1]
    return np.sort(order[new])


def _epoch_ms(seconds: np.ndarray) -> np.ndarray:
    """:func:`to_epoch_ms` of a column of live seconds: one int64 copy, scaled in place."""
    out = seconds.astype(np.int64)
    out *= 1000
    out += EPOCH_MS
    return out


__all__ = ["KINDS", "LiveState", "ShopperView", "ShopperViews"]
