"""The live state in Redis: the same behaviour as :class:`ranking.live.state.LiveState`, shared by
several hosts, bounded in memory by construction.

:class:`RedisLiveState` has LiveState's public methods and return types (``apply``, ``replay``,
``shopper_view``, ``product_signals``, ``neighbours``, ``now_ms``, ``nbytes``) and reads the same
caps, windows and decays from settings ``live.*``; ``live.redis_*`` say where the server is
(``redis_url``), which keys are this mall's (``redis_prefix``) and how long a call may take.
Every key starts with the prefix and has a TTL. Keys (after the prefix):

* ``u:<user>`` / ``s:<session>`` + ``:it`` ``:q`` ``:b`` — a shopper's last interactions,
  queries and bought items, capped lists (LPUSH + LTRIM in one MULTI) of ``"id,time[,kind]"``,
  newest first; ``:ig`` — cards shown without a click (:data:`~.redis_scripts.IGNORED_SHOW`).
  A user's keys live ``redis_shopper_ttl_hours`` after their last write, a session's
  ``session_ttl_hours``.
* ``sess:<session>`` — which shopper a session is (its own, or the user it folded into);
  ``sessions`` — a sorted set of sessions by last event, swept like LiveState's: a session idle
  for ``session_ttl_hours`` of event time is forgotten, its anonymous history deleted.
* ``pc:<h|d>:<bucket>`` / ``sc:...`` — product and store counters, one hash per time bucket
  (fields ``"<id>:<i|c|a|o|g>"``, the mall's ``"*:<metric>"`` and ``#``, the bucket's write
  stamp: how many writes it took) expiring when it leaves its window (last hour, last day).
* ``pcw:<h|d>`` — the products' running window totals, so that a page reads one field per
  candidate and metric, not one per bucket (30 buckets: 75,000 fields for 500 candidates):
  the integer metrics (``"<id>:<i|c|a|o>"``, ``"*:<...>"``) summed over the buckets of the
  window ending at bucket ``@``, and ``#<bucket>``, the stamp of each bucket as they hold it.
  Writes add to the bucket and, in the same script call, to the totals when the bucket is in
  their window (:data:`~.redis_scripts.COUNT_MANY`). :data:`~.redis_scripts.WINDOW_TOTALS`
  (atomic, so readers and the applier never race) checks every bucket's stamp against theirs;
  rolling, it moves them on to a bucket (subtracts the buckets that left, adds those that
  entered), or rebuilds them from the buckets when a stamp differs (a bucket expired by its
  TTL in an idle gap, written again after, or written by an older version: stamp ``0``), or
  they are missing or a window behind. They are therefore exactly the sums of the window's
  buckets as they are, as the bucket-by-bucket read gives (tests/
  test_live_redis_window_totals.py). Who rolls: the service's applier after each poll
  (:meth:`RedisLiveState.roll_totals`, to its wall clock's bucket), its pages reading them only
  when current and in agreement (:attr:`RedisLiveState.reads_roll` off: nothing heavy on a
  page's path); elsewhere (tests, replay evaluation) each read. GMV is a float the buckets hold
  (``HINCRBYFLOAT``) and the read added bucket by bucket: it stays out of the totals and is
  read bucket by bucket, for only the candidates whose window holds an order (no order, no
  GMV: both count the same rows), added in the buckets' order, so the same floats. A read the
  totals cannot serve (its bucket behind theirs, ahead of this host's wall clock, or, for a
  page, not theirs) sums the buckets as before. Only products' counters have totals (pages
  read no store counters). Every writer of a prefix must run this version: an older one's
  writes reach the buckets, not the totals.
* ``cv:<product>`` / ``cva:<product>`` — co-visitation: a sorted set trimmed to the top
  ``covisit_neighbours`` and its decay anchor (:data:`~.redis_scripts.COVISIT_LEARN`).
* ``cat:leaf`` ``cat:store`` ``cat:brand`` (hashes by product id), ``cat:consumable`` (a set).
* ``clock`` (live seconds of the latest event) and ``log`` (rows applied per table): the
  marker of the last applied log position; :meth:`RedisLiveState.needs_rebuild` says whether a
  starting service must replay the durable log (Redis empty, flushed, or behind it).

Times are the live state's int32 seconds since 2020 (:mod:`ranking.live.batch`). Windows and
session expiry follow event time, as in LiveState; TTLs follow the wall clock and only bound
memory (in live traffic the two agree). Any Redis failure or timeout raises
:class:`~ranking.live.redis_client.LiveBackendError`; bad rows raise ``LiveInputError`` before
anything is written. Differences from LiveState, all in ties and races: co-visited neighbours
of equal weight are ordered by id, not recency; a session's idle time counts its own events.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from ranking.live.batch import EventBatch, Rows, event_batch, replay_chunks, to_epoch_ms, to_live_seconds
from ranking.live.redis_client import connect, guarded
from ranking.live.redis_scripts import (
    CLOCK_MAX,
    COUNT_MANY,
    COVISIT_LEARN,
    HDEL_MANY,
    IGNORED_SHOW,
    PUSH_CAPPED,
    WINDOW_TOTALS,
)
from ranking.live.signals_cache import SignalsCache
from ranking.live.state import ShopperView
from ranking.membership import isin_few
from ranking.settings import LiveSettings
from ranking.sorted_sets import unique_sorted

TOTALS = {"pc": "pcw"}  # counters with running window totals: products' (what pages read)
METRIC_FIELDS = "icaog"  # impressions, clicks, carts, orders, GMV (ranking.live.counters.METRICS)
INTERACTION_FIELDS = "cao"  # clicks, carts, orders: what the trend counts
KIND_FIELD = {0: "c", 1: "a", 2: "o"}
ORDER = 2
NEVER = -(2**31)
HISTORY = ("it", "q", "b", "ig")


def _ints(entries: list[bytes], width: int) -> np.ndarray:
    """``"a,b[,c]"`` list entries as an n x width int64 array."""
    if not entries:
        return np.zeros((0, width), np.int64)
    return np.array(b",".join(entries).decode().split(","), dtype=np.int64).reshape(-1, width)


def _groups(keys: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Row indices per distinct key, each group in the rows' (time) order."""
    order = np.argsort(keys, kind="stable")
    uniq, first = np.unique(keys[order], return_index=True)
    return list(zip(uniq.tolist(), np.split(order, first[1:]), strict=True))


def _field_values(values: list[Any]) -> np.ndarray:
    return np.array([-1 if v is None else int(v) for v in values], np.int64)


class RedisLiveState:
    """Shoppers, products and stores as of the last applied event, kept in Redis."""

    def __init__(self, settings: LiveSettings | None = None, client: Any = None) -> None:
        s = self.settings = settings or LiveSettings()
        self.url, self.prefix = s.redis_url, s.redis_prefix
        self.redis = client if client is not None else connect(s)
        self.windows = {"h": (max(1, 60 // s.hour_bucket_minutes), s.hour_bucket_minutes * 60),
                        "d": (max(1, 1440 // s.day_bucket_minutes), s.day_bucket_minutes * 60)}
        self.user_ttl = max(1, int(s.redis_shopper_ttl_hours * 3600))
        self.session_ttl = max(1, int(s.session_ttl_hours * 3600))
        self.ignore_window = int(s.ignore_window_hours * 3600)
        self._ignored = self.redis.register_script(IGNORED_SHOW)
        self._covisit = self.redis.register_script(COVISIT_LEARN)
        self._clock_max = self.redis.register_script(CLOCK_MAX)
        self._pushed = self.redis.register_script(PUSH_CAPPED)
        self._incr = self.redis.register_script(COUNT_MANY)
        self._totals = self.redis.register_script(WINDOW_TOTALS)
        self._unignore = self.redis.register_script(HDEL_MANY)
        self._next_sweep = NEVER
        self.applied: Counter[str] = Counter()
        # whether a read may roll the window totals on (or rebuild them); the service's backend
        # says no, and its applier rolls them after each poll (:meth:`roll_totals`)
        self.reads_roll = True
        # the counters a page read, kept until an applier changes them: set by the service's backend
        # once it follows the applied stream (ranking/live/signals_cache.py); None: every read asks
        self.signals: SignalsCache | None = None

    # ---- keys ------------------------------------------------------------------------------
    def _key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    def _ttl(self, shopper: str) -> int:
        return self.user_ttl if shopper.startswith(self.prefix + "u:") else self.session_ttl

    # ---- writing ---------------------------------------------------------------------------
    def apply(self, table: str, rows: Rows) -> int:
        """Apply logged rows of one table; return how many. Bad rows raise LiveInputError, a
        failing server LiveBackendError."""
        if table in ("products", "categories"):
            rows_list = rows.to_pylist() if isinstance(rows, pa.Table) else list(rows)
            with guarded(self.url):
                (self._products if table == "products" else self._categories)(rows_list)
                self._mark({table: len(rows_list)})
            self.applied[table] += len(rows_list)
            return len(rows_list)
        batch = event_batch(table, rows)
        with guarded(self.url):
            self._apply_batch(batch, {table: len(batch)})
        self.applied[table] += len(batch)
        return len(batch)

    def replay(self, tables: Mapping[str, pa.Table], chunk_minutes: float = 60.0) -> int:
        """Rebuild from logged tables exactly as LiveState.replay does (same chunks, same order)."""
        applied = 0
        with guarded(self.url):
            for counts, batches in replay_chunks(tables, chunk_minutes):
                for i, batch in enumerate(batches):
                    self._apply_batch(batch, counts if i == len(batches) - 1 else {})
                self.applied.update(counts)
                applied += sum(counts.values())
        return applied

    def _apply_batch(self, batch: EventBatch, counts: Mapping[str, int]) -> None:
        """Apply a checked batch (impressions only, or interactions only), then mark it applied."""
        if len(batch):
            o = np.argsort(batch.time, kind="stable")
            times, products = batch.time[o].astype(np.int64), batch.product_id[o]
            clock = self._clock()
            shoppers, folds = self._resolve(batch.user_id[o], [batch.session_id[i] for i in o], times)
            stores = self._stores_of(products, batch.store_id[o].astype(np.int64),
                                     describe=bool((batch.kind == ORDER).any()))
            if batch.kind[0] < 0:
                self._impressions(shoppers, products, stores, times, batch.query_id[o], batch.request_id[o],
                                  clock)
            else:
                self._interactions(shoppers, products, stores, times, batch, o, clock)
            for source, target in folds:
                self._fold(source, target)
            self._advance(int(times.max()))
            if self.signals is not None:  # this process's own write: its kept counters of them go
                self.signals.forget(products)  # repeats and any order: found by row
        if counts:
            self._mark(counts)

    def _mark(self, counts: Mapping[str, int]) -> None:
        """Count applied rows per table in the log-position marker (after their writes)."""
        pipe = self.redis.pipeline(transaction=False)
        for table, n in counts.items():
            pipe.hincrby(self._key("log"), table, n)
        pipe.expire(self._key("log"), self.user_ttl)
        pipe.execute()

    def _resolve(self, users: np.ndarray, sessions: list[str | None], times: np.ndarray
                 ) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """Shopper keys of a batch's rows, and the (anonymous, user) folds it causes (LiveState's rule:
        a row naming a user and a session whose shopper is still anonymous folds it into the user)."""
        named = sorted({s for s in sessions if s is not None})
        held = self.redis.mget([self._key("sess", s) for s in named]) if named else []
        mapping = {s: (v.decode() if v else None) for s, v in zip(named, held, strict=True)}
        out, folds, seen = [], [], {}
        for user, session, t in zip(users.tolist(), sessions, times.tolist(), strict=True):
            if user >= 0:
                key = self._key("u", user)
                if session is not None:
                    before = mapping.get(session)
                    if before == self._key("s", session):
                        folds.append((before, key))
                    mapping[session] = key
            else:
                key = mapping.get(session) or self._key("s", session)
                mapping[session] = key
            out.append(key)
            if session is not None:
                seen[session] = max(seen.get(session, NEVER), t)
        if seen:
            pipe = self.redis.pipeline(transaction=False)
            for session in seen:
                pipe.set(self._key("sess", session), mapping[session], ex=self._ttl(mapping[session]))
            pipe.zadd(self._key("sessions"), seen, gt=True)
            pipe.expire(self._key("sessions"), self.user_ttl)
            pipe.execute()
        return np.array(out, dtype=object), folds

    def _stores_of(self, products: np.ndarray, named: np.ndarray, describe: bool) -> np.ndarray:
        """Each row's store: the one it names, else the catalog's; -1 unknown. A batch with orders
        teaches the catalog the stores its rows name."""
        if describe and (named >= 0).any():
            known = named >= 0
            self.redis.hset(self._key("cat", "store"),
                            mapping=dict(zip(products[known].tolist(), named[known].tolist(), strict=True)))
        uniq, inverse = np.unique(products, return_inverse=True)
        store = _field_values(self.redis.hmget(self._key("cat", "store"), uniq.tolist()))[inverse]
        return np.where(named >= 0, named, store)

    def _count(self, incr: list[object], ids: dict[str, np.ndarray], times: np.ndarray, metric: str,
               amounts: np.ndarray | None, clock: int) -> None:
        """Add a metric to products' (``pc``) and stores' (``sc``) buckets of both windows (as
        :data:`COUNT_MANY` arguments, which also keep the products' window totals); an event older
        than a window (by the state's clock) is not counted in it, as in LiveState."""
        for kind, rows in ids.items():
            ok = rows >= 0
            values = np.ones(int(ok.sum())) if amounts is None else amounts[ok].astype(np.float64)
            for window, (buckets, width) in self.windows.items():
                bucket = times[ok] // width
                keep = bucket > max(clock // width, int(bucket.max(initial=NEVER))) - buckets
                keys, inverse = np.unique(np.c_[bucket[keep], rows[ok][keep]], axis=0, return_inverse=True)
                sums = np.bincount(inverse.ravel(), weights=values[keep], minlength=len(keys))
                totals = self._key(TOTALS[kind], window) if kind in TOTALS else "-"
                for b in unique_sorted(keys[:, 0]).tolist():
                    sel = keys[:, 0] == b
                    fields = " ".join(f"{i}:{metric} {v!r}" for i, v in
                                      zip(keys[sel, 1].tolist(), sums[sel].tolist(), strict=True))
                    incr += [self._key(kind, window, b), buckets * width + width,
                             f"{fields} *:{metric} {float(sums[sel].sum())!r}", totals, b, buckets]

    def _push(self, pipe: Any, shoppers: np.ndarray, part: str, entries: list[str], size: int,
              read: int = -1) -> list[tuple[str, np.ndarray]]:
        """Push each shopper's entries (in time order) onto their capped list in one script call;
        with ``read`` >= 0 the call also returns each list's new entries and ``read`` more."""
        groups = _groups(shoppers)
        args: list[object] = [size, read]
        for shopper, rows in groups:
            args += [f"{shopper}:{part}", self._ttl(shopper), " ".join(entries[i] for i in rows.tolist())]
        self._pushed(keys=[], args=args, client=pipe)
        return groups

    def _impressions(self, shoppers: np.ndarray, products: np.ndarray, stores: np.ndarray, times: np.ndarray,
                     query: np.ndarray, request: np.ndarray, clock: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        incr: list[object] = []
        self._count(incr, {"pc": products, "sc": stores}, times, "i", None, clock)
        self._incr(keys=[], args=incr, client=pipe)
        shown_args: list[object] = [self.ignore_window, self.settings.ignored_items]
        for shopper, rows in _groups(shoppers):
            cards, inverse = np.unique(products[rows], return_inverse=True)
            shown = np.bincount(inverse, minlength=len(cards))
            last = np.full(len(cards), NEVER, np.int64)
            np.maximum.at(last, inverse, times[rows])
            newest = np.lexsort((cards, -last)).tolist()
            shown_args += [f"{shopper}:ig", self._ttl(shopper),
                           " ".join(f"{cards[i]} {shown[i]} {last[i]}" for i in newest)]
        self._ignored(keys=[], args=shown_args, client=pipe)
        searched = np.flatnonzero(query >= 0)
        if len(searched):  # one query per request (a page holds many cards)
            first: dict[tuple[str, int], int] = {}
            for i in searched.tolist():
                first.setdefault((shoppers[i], int(request[i])), i)
            pick = np.array(sorted(first.values()), np.int64)
            self._push(pipe, shoppers[pick], "q", [f"{query[i]},{times[i]}" for i in pick.tolist()],
                       self.settings.recent_queries)
        pipe.execute()

    def _interactions(self, shoppers: np.ndarray, products: np.ndarray, stores: np.ndarray, times: np.ndarray,
                      batch: EventBatch, order: np.ndarray, clock: int) -> None:
        s = self.settings
        kinds, counted = batch.kind[order], ~batch.cancelled[order]  # a cancelled order is no sale
        pipe, incr = self.redis.pipeline(transaction=False), []
        for kind, metric in KIND_FIELD.items():
            sel = counted & (kinds == kind)
            if sel.any():
                self._count(incr, {"pc": products[sel], "sc": stores[sel]}, times[sel], metric, None, clock)
        sold = counted & (kinds == ORDER)
        if sold.any():
            gmv = batch.gmv[order][sold]
            self._count(incr, {"pc": products[sold], "sc": stores[sold]}, times[sold], "g", gmv, clock)
            self._push(pipe, shoppers[sold], "b", [f"{p},{t}" for p, t in
                                                   zip(products[sold].tolist(), times[sold].tolist(),
                                                       strict=True)], s.bought_items)
        self._incr(keys=[], args=incr, client=pipe)
        entries = [f"{p},{t},{k}" for p, t, k in zip(products.tolist(), times.tolist(), kinds.tolist(),
                                                      strict=True)]
        groups = self._push(pipe, shoppers, "it", entries, s.recent_interactions, read=s.covisit_lookback)
        clicked = [(f"{shopper}:ig", " ".join(map(str, products[rows].tolist()))) for shopper, rows in groups]
        self._unignore(keys=[], args=[a for pair in clicked for a in pair], client=pipe)
        held = pipe.execute()[-2]
        self._learn_covisitation(groups, held, products, times)

    def _learn_covisitation(self, groups: list[tuple[str, np.ndarray]], held: list[list[bytes]],
                            products: np.ndarray, times: np.ndarray) -> None:
        """Pairs of each new interaction with the shopper's previous ``covisit_lookback`` ones (read
        back from the list in the transaction that pushed them), learnt as LiveState learns them."""
        s = self.settings
        lists = [_ints(entries, 3) for entries in held]
        lengths = np.array([len(x) for x in lists], np.int64)
        start = np.r_[0, np.cumsum(lengths)[:-1]]
        flat = np.concatenate(lists) if lists else np.zeros((0, 3), np.int64)
        sizes = np.array([len(rows) for _, rows in groups], np.int64)
        row = np.concatenate([rows for _, rows in groups])
        group = np.repeat(np.arange(len(groups)), sizes)
        rank = np.arange(len(row)) - np.r_[0, np.cumsum(sizes)[:-1]][group]  # 0 = the group's oldest
        pos = sizes[group] - 1 - rank  # its place in the list read back, newest first
        before, after, weight, when = [], [], [], []
        for j in range(1, min(s.covisit_lookback, s.recent_interactions - 1) + 1):
            ok = pos + j < lengths[group]
            at = np.minimum(start[group] + pos + j, max(len(flat) - 1, 0))
            prev = np.where(ok, flat[at, 0] if len(flat) else -1, -1)
            gap = times[row] - (flat[at, 1] if len(flat) else 0)
            ok &= (gap <= s.covisit_window_minutes * 60) & (prev != products[row])
            before.append(prev[ok])
            after.append(products[row][ok])
            weight.append(np.full(int(ok.sum()), 1.0 / j))
            when.append(times[row][ok])
        if before:
            self._covisit_add(np.concatenate(before), np.concatenate(after), np.concatenate(weight),
                              np.concatenate(when))

    def _covisit_add(self, before: np.ndarray, after: np.ndarray, weight: np.ndarray,
                     when: np.ndarray) -> None:
        """a -> b in full, b -> a times ``covisit_backward_weight``, decayed to the batch's latest time."""
        s = self.settings
        ok = (before >= 0) & (after >= 0) & (before != after)
        if not ok.any():
            return
        half_life = s.covisit_half_life_hours * 3600
        now = int(when[ok].max())
        w = weight[ok] * np.power(0.5, (now - when[ok]) / half_life)
        src = np.r_[before[ok], after[ok]]
        dst = np.r_[after[ok], before[ok]]
        w = np.r_[w, w * s.covisit_backward_weight]
        pairs, inverse = np.unique(np.c_[src, dst], axis=0, return_inverse=True)
        total = np.bincount(inverse.ravel(), weights=w, minlength=len(pairs))
        args: list[object] = [self.prefix, now, half_life, s.covisit_neighbours, self.user_ttl]
        items, first = np.unique(pairs[:, 0], return_index=True)
        for item, sel in zip(items.tolist(), np.split(np.arange(len(pairs)), first[1:]), strict=True):
            args += [item, " ".join(f"{d} {w!r}" for d, w in zip(pairs[sel, 1].tolist(), total[sel].tolist(),
                                                                  strict=True))]
        self._covisit(keys=[], args=args)

    def _fold(self, source: str, target: str) -> None:
        """Merge the anonymous ``source``'s history into the user ``target``'s by time; delete it."""
        s = self.settings
        read = self.redis.pipeline(transaction=False)
        for part in ("it", "q", "b"):
            read.lrange(f"{source}:{part}", 0, -1)
            read.lrange(f"{target}:{part}", 0, -1)
        read.hgetall(f"{source}:ig")
        got = read.execute()
        write = self.redis.pipeline(transaction=True)
        for i, (part, size) in enumerate((("it", s.recent_interactions), ("q", s.recent_queries),
                                          ("b", s.bought_items))):
            merged = got[2 * i][::-1] + got[2 * i + 1][::-1]  # oldest first, the session's first
            if merged:
                at = _ints([b",".join(e.split(b",")[1:2]) for e in merged], 1)[:, 0]
                kept = [merged[j] for j in np.argsort(at, kind="stable")][-size:]
                write.delete(f"{target}:{part}")
                write.lpush(f"{target}:{part}", *kept)
                write.expire(f"{target}:{part}", self.user_ttl)
        cards = sorted(((int(k), *map(int, v.split(b","))) for k, v in got[6].items()), key=lambda c: -c[2])
        if cards:
            payload = " ".join(f"{item} {shown} {last}" for item, shown, last in cards)
            self._ignored(keys=[], client=write,
                          args=[self.ignore_window, s.ignored_items, f"{target}:ig", self.user_ttl, payload])
        write.delete(*[f"{source}:{part}" for part in HISTORY])
        write.execute()

    def _advance(self, latest: int) -> None:
        """Move the clock; every so often forget sessions idle for ``session_ttl_hours``."""
        clock = int(self._clock_max(keys=[self._key("clock")], args=[latest, self.user_ttl]))
        if clock < self._next_sweep:
            return
        sessions = self._key("sessions")
        cutoff = f"({clock - self.session_ttl}"  # idle since strictly before
        idle = [m.decode() for m in self.redis.zrangebyscore(sessions, "-inf", cutoff)]
        if idle:
            mapped = self.redis.mget([self._key("sess", s) for s in idle])
            pipe = self.redis.pipeline(transaction=True)
            for session, shopper in zip(idle, mapped, strict=True):
                anonymous = self._key("s", session)
                if shopper is not None and shopper.decode() == anonymous:
                    pipe.delete(*[f"{anonymous}:{part}" for part in HISTORY])
                pipe.delete(self._key("sess", session))
            pipe.zrem(sessions, *idle)
            pipe.execute()
        self._next_sweep = clock + max(60, self.session_ttl // 24)

    def _products(self, rows: list[Mapping[str, Any]]) -> None:
        """``products`` rows (contract shape) from the catalog change log; -1 keeps what was known."""
        ids = _field_values([r.get("product_id") for r in rows])
        pipe = self.redis.pipeline(transaction=False)
        for part, name in (("leaf", "category_id"), ("store", "store_id"), ("brand", "brand_id")):
            values = _field_values([r.get(name) for r in rows])
            known = values >= 0
            if known.any():
                key = self._key("cat", part)
                pipe.hset(key, mapping=dict(zip(ids[known].tolist(), values[known].tolist(), strict=True)))
                pipe.expire(key, self.user_ttl)
        pipe.execute()

    def _categories(self, rows: list[Mapping[str, Any]]) -> None:
        """``categories`` rows: which leaves are consumable (bought again and again)."""
        now = {int(r["category_id"]): bool(r.get("consumable")) for r in rows}
        key = self._key("cat", "consumable")
        pipe = self.redis.pipeline(transaction=False)
        if [c for c, yes in now.items() if not yes]:
            pipe.srem(key, *[c for c, yes in now.items() if not yes])
        if [c for c, yes in now.items() if yes]:
            pipe.sadd(key, *[c for c, yes in now.items() if yes])
        pipe.expire(key, self.user_ttl)
        pipe.execute()

    # ---- reading ---------------------------------------------------------------------------
    def _clock(self) -> int:
        value = self.redis.get(self._key("clock"))
        return int(value) if value is not None else NEVER

    def now_ms(self, at_ms: int | None = None) -> int:
        """The state's clock in epoch ms (a request's own time if later), kept as :attr:`signals`
        keeps the sums when it does (any apply moves the clock, and drops it there)."""
        with guarded(self.url):
            clock = self._kept_clock()
        return max(int(to_epoch_ms(clock)) if clock > NEVER else 0, at_ms or 0)

    def _kept_clock(self) -> int:
        kept = self.signals
        if kept is None:
            return self._clock()
        got, generation = kept.state_clock()
        if got is None:
            started = kept.clock()
            got = self._clock()
            kept.put_state_clock(got, generation, started)
        return got

    def _shopper(self, user_id: int | None, session_id: str | None) -> str | None:
        if user_id is not None:
            return self._key("u", int(user_id))
        if session_id is not None:
            held = self.redis.get(self._key("sess", session_id))
            return held.decode() if held is not None else None
        return None

    def _describe(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Leaf, store and brand of product ids (-1 unknown)."""
        if not len(ids):
            return {part: np.zeros(0, np.int64) for part in ("leaf", "store", "brand")}
        pipe = self.redis.pipeline(transaction=False)
        for part in ("leaf", "store", "brand"):
            pipe.hmget(self._key("cat", part), ids.tolist())
        return dict(zip(("leaf", "store", "brand"), map(_field_values, pipe.execute()), strict=True))

    def shopper_view(self, user_id: int | None, session_id: str | None = None, at_ms: int | None = None
                     ) -> ShopperView:
        """The shopper of a request: the user's if ``user_id`` is set (their folded sessions
        included), else the session's; an unknown shopper gets an empty view."""
        now_ms = self.now_ms(at_ms)
        with guarded(self.url):
            shopper = self._shopper(user_id, session_id)
            if shopper is None:
                return ShopperView(user_id, session_id, False, now_ms)
            pipe = self.redis.pipeline(transaction=False)
            for part in ("it", "q", "b"):
                pipe.lrange(f"{shopper}:{part}", 0, -1)
            pipe.hgetall(f"{shopper}:ig")
            pipe.smembers(self._key("cat", "consumable"))
            pipe.exists(*[f"{shopper}:{part}" for part in HISTORY])
            it, q, b, ig, consumable, exists = pipe.execute()
            if not exists:
                return ShopperView(user_id, session_id, False, now_ms)
            it, q, b = _ints(it, 3), _ints(q, 2), _ints(b, 2)
            about = self._describe(np.r_[it[:, 0], b[:, 0]])
        ignored, shown = self._ignored_cards(ig, int(to_live_seconds(now_ms)))
        final = ~isin_few(about["leaf"][len(it):], np.array([int(c) for c in consumable], np.int64))
        tired = shown >= self.settings.ignore_after_impressions
        n = len(it)
        return ShopperView(
            user_id, session_id, True, now_ms, items=it[:, 0], times_ms=to_epoch_ms(it[:, 1]),
            kinds=it[:, 2].astype(np.int8), leaves=about["leaf"][:n], stores=about["store"][:n],
            brands=about["brand"][:n], queries=q[:, 0], query_times_ms=to_epoch_ms(q[:, 1]), bought=b[:, 0],
            ignored=ignored, ignored_shown=shown,
            exclude=unique_sorted(np.r_[b[:, 0][final], ignored[tired]]).astype(np.int64))

    def _ignored_cards(self, held: dict[bytes, bytes], now: int) -> tuple[np.ndarray, np.ndarray]:
        """(product ids, times shown) of cards shown within the window, most shown first."""
        if not held:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        items = np.array([int(k) for k in held], np.int64)
        shown, last = _ints(list(held.values()), 2).T
        ok = last >= now - self.ignore_window
        items, shown, last = items[ok], shown[ok], last[ok]
        order = np.lexsort((items, -last, -shown))
        return items[order], shown[order]

    def _sums(self, kind: str, window: str, ids: np.ndarray, now: int) -> tuple[np.ndarray, np.ndarray]:
        """ids x 5 metric sums over the window ending at ``now``, and the mall's 5 sums."""
        buckets, width = self.windows[window]
        current = now // width
        fields = [f"{i}:{m}" for i in ids.tolist() for m in METRIC_FIELDS] + [f"*:{m}" for m in METRIC_FIELDS]
        pipe = self.redis.pipeline(transaction=False)
        for b in range(current - buckets + 1, current + 1):
            pipe.hmget(self._key(kind, window, b), fields)
        total = np.zeros(len(fields))
        for values in pipe.execute():
            total += np.array([0.0 if v is None else float(v) for v in values])
        return total[:-5].reshape(len(ids), 5), total[-5:]

    def _window_sums(self, windows: list[str], ids: np.ndarray, now: int, roll: bool | None = None
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
        """What :meth:`_sums` gives for each window, read from the products' running window
        totals (:data:`WINDOW_TOTALS`, rolled to ``now``'s bucket): candidates x 4 integer
        metrics in one reply, GMV bucket by bucket for just those whose window holds an order,
        added in the buckets' order as :meth:`_sums` adds them (so the same floats). A window
        whose totals are ahead of ``now`` (another reader rolled them on), or, unless ``roll``
        (default :attr:`reads_roll`), not current at ``now``'s bucket and in agreement with its
        buckets, is read bucket by bucket."""
        roll = self.reads_roll if roll is None else roll
        if not windows:
            return []
        out = []  # every window in one round trip
        replies = self._totals(keys=[], args=self._totals_args(windows, ids, now, int(roll)))
        for window, got in zip(windows, replies, strict=True):
            if got == 0:
                out.append(self._sums("pc", window, ids, now))
                continue
            counts = np.array(got[0].split(b","), dtype=np.float64).reshape(len(ids) + 1, 4)
            sold = np.flatnonzero(counts[:-1, 3] > 0)
            gmv = np.zeros(len(sold) + 1)
            for row in np.array(got[1].split(b","), dtype=np.float64).reshape(-1, len(sold) + 1):
                gmv += row  # numpy parses each text to the very float ``float()`` gives
            total = np.zeros((len(ids) + 1, 5))
            total[:, :4] = counts
            total[sold, 4] = gmv[:-1]
            total[-1, 4] = gmv[-1]
            out.append((total[:-1], total[-1]))
        return out

    def _totals_args(self, windows: list[str], ids: np.ndarray, now: int, mode: int) -> list[object]:
        """:data:`WINDOW_TOTALS`' arguments for ``windows`` at ``now``; ``mode`` 0 reads, 1 rolls
        and reads, 2 only rolls (no reply to read: the applier's roll)."""
        args: list[object] = []
        listed = " ".join(map(str, ids.tolist()))
        for window in windows:
            buckets, width = self.windows[window]
            args += [self._key(TOTALS["pc"], window), self._key("pc", window, ""), now // width, buckets,
                     buckets * width + width, listed, mode]
        return args

    def _rolled(self, now: int) -> list[str]:
        """The windows whose totals may serve ``now``: its bucket not ahead of this host's wall
        clock (a request's own time in the future must not carry the totals past every other
        reader)."""
        wall = int(to_live_seconds(time.time() * 1000))
        return [w for w in ("h", "d") if now // self.windows[w][1] <= wall // self.windows[w][1]]

    def _read_sums(self, ids: np.ndarray, now: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(ids x 5 sums, the mall's 5) of the hour and the day windows ending at ``now``: the
        running totals where they serve ``now``, else the buckets."""
        rolled = self._rolled(now)
        sums = dict(zip(rolled, self._window_sums(rolled, ids, now), strict=True))
        return [sums.get(w) or self._sums("pc", w, ids, now) for w in ("h", "d")]

    def _signal_sums(self, ids: np.ndarray, now: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """:meth:`_read_sums`, from :attr:`signals` where it keeps them (the ids it lacks in
        either window, and the mall's when it lacks them, read in one call and kept)."""
        kept = self.signals
        if kept is None:
            return self._read_sums(ids, now)
        buckets = [now // self.windows[w][1] for w in ("h", "d")]
        parts = [kept.get(w, b, ids) for w, b in zip(("h", "d"), buckets, strict=True)]
        missing = ~(parts[0][1] & parts[1][1])
        if not missing.any() and all(p[2] is not None for p in parts):
            return [(p[0], p[2]) for p in parts]
        started = kept.clock()
        fetched = self._read_sums(ids[missing], now)
        out = []
        for w, b, (sums, _, _, generation), (read, mall) in zip(("h", "d"), buckets, parts, fetched,
                                                                strict=True):
            sums[missing] = read
            kept.put(w, b, ids[missing], read, mall, generation, started)
            out.append((sums, mall))
        return out

    def roll_totals(self, at_ms: int | None = None) -> None:
        """Roll the products' window totals on to the bucket of ``at_ms`` (or the state's clock if
        later), rebuilding them if they must be: the applier's job after each poll, so that a
        page's read (``reads_roll`` off) finds them current and does nothing heavy."""
        now = int(to_live_seconds(self.now_ms(at_ms)))
        rolled = self._rolled(now)
        if rolled:  # only rolled: no mall totals or GMV read back (mode 2), as no page waits on them
            with guarded(self.url):
                self._totals(keys=[], args=self._totals_args(rolled, np.zeros(0, np.int64), now, 2))

    def product_signals(self, product_ids: np.ndarray, at_ms: int | None = None) -> dict[str, np.ndarray]:
        """Live counters of candidates: last-hour and last-day clicks, orders, GMV, CTR and trend
        (LiveState's formulas: ranking.live.counters.WindowedCounters); the sums read kept when
        :attr:`signals` keeps them."""
        s, ids = self.settings, np.asarray(product_ids, np.int64)
        now = int(to_live_seconds(self.now_ms(at_ms)))
        with guarded(self.url):
            (hour, _), (day, mall) = self._signal_sums(ids, now)
        i, c, o, g = (METRIC_FIELDS.index(m) for m in "icog")
        act = [METRIC_FIELDS.index(m) for m in INTERACTION_FIELDS]
        prior = mall[c] / mall[i] if mall[i] > 0 else 0.0
        k = s.ctr_prior_impressions
        (hb, hw), (db, dw) = self.windows["h"], self.windows["d"]
        trend = ((hour[:, act].sum(axis=1) + s.trend_prior)
                 / (day[:, act].sum(axis=1) * (hb * hw / (db * dw)) + s.trend_prior))
        return {"hour_impressions": hour[:, i], "hour_clicks": hour[:, c], "day_clicks": day[:, c],
                "day_orders": day[:, o], "day_gmv": day[:, g], "day_impressions": day[:, i],
                "ctr": (day[:, c] + k * prior) / np.maximum(day[:, i] + k, 1e-9), "trend": trend}

    def neighbours(self, product_ids: np.ndarray, at_ms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Co-visited neighbours of products: (product ids, decayed weights), products x
        ``covisit_neighbours``, strongest first; -1 / 0 where empty or the product is unknown."""
        s, ids = self.settings, np.asarray(product_ids, np.int64)
        now = int(to_live_seconds(self.now_ms(at_ms)))
        out = np.full((len(ids), s.covisit_neighbours), -1, np.int64)
        weight = np.zeros(out.shape, np.float32)
        with guarded(self.url):
            pipe = self.redis.pipeline(transaction=False)
            for item in ids.tolist():
                pipe.zrevrange(self._key("cv", item), 0, s.covisit_neighbours - 1, withscores=True)
                pipe.get(self._key("cva", item))
            got = pipe.execute()
        for row, (held, anchor) in enumerate(zip(got[::2], got[1::2], strict=True)):
            if held and anchor is not None:
                decay = 0.5 ** ((now - float(anchor)) / (s.covisit_half_life_hours * 3600))
                out[row, :len(held)] = [int(m) for m, _ in held]
                weight[row, :len(held)] = [w * decay for _, w in held]
        return out, weight

    # ---- operating -------------------------------------------------------------------------
    def log_position(self) -> dict[str, int]:
        """The marker of what this state holds: rows applied per table, and ``clock_ms``, the
        time of the latest event applied (0 when Redis holds nothing of this prefix)."""
        with guarded(self.url):
            applied = {k.decode(): int(v) for k, v in self.redis.hgetall(self._key("log")).items()}
            clock = self._clock()
        return {**applied, "clock_ms": int(to_epoch_ms(clock)) if clock > NEVER else 0}

    def needs_rebuild(self, log_last_event_ms: int) -> bool:
        """Whether a starting service must replay the durable log into this state: Redis holds
        nothing of this prefix (new, flushed, restarted without persistence, expired), or its
        latest applied event is older than the log's latest."""
        position = self.log_position()
        log_last = int(to_epoch_ms(to_live_seconds(log_last_event_ms)))  # the state keeps whole seconds
        return position["clock_ms"] == 0 or position["clock_ms"] < log_last

    def clear(self) -> int:
        """Delete every key of this prefix (before a rebuild); return how many."""
        removed = 0
        with guarded(self.url):
            batch = []
            for key in self.redis.scan_iter(match=self.prefix.replace("*", r"\*") + "*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    removed += self.redis.unlink(*batch)
                    batch = []
            if batch:
                removed += self.redis.unlink(*batch)
        if self.signals is not None:  # after the unlink: a page's read during it is not kept either
            self.signals.forget((), every=True)
        self._next_sweep = NEVER
        return removed

    def nbytes(self) -> dict[str, int]:
        """Bytes the Redis server holds (INFO memory ``used_memory``: every prefix on it, plus the
        server's own ~1 MB)."""
        with guarded(self.url):
            return {"redis_used_memory": int(self.redis.info("memory")["used_memory"])}

    def close(self) -> None:
        """Release the connection pool."""
        self.redis.close()


__all__ = ["RedisLiveState"]
