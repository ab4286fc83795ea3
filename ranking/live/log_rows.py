"""What both backends do with the rows :class:`~ranking.live.log_tail.LogTail` read, before applying them.

:class:`FirstShowings` keeps a card shown once: a client's impression and the service's
exposure of the same card (request id, product) are one showing, the second is left out (a
bounded memory of recent cards), as are impressions naming no shopper. :class:`BundleLeaves`
is the bundle's product -> leaf lookup a backend describes products with when the log first
names them. :func:`column_tables` turns a poll's rows (held as columns,
:meth:`~ranking.live.log_tail.LogTail.poll_columns`) into the Arrow tables :meth:`LiveState.replay`
(or ``RedisLiveState.replay``) takes, in replay order. Both backends read a poll this way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import compress, repeat
from operator import is_

import numpy as np
import pyarrow as pa

from ranking.live.batch import REPLAY_ORDER
from ranking.live.row_columns import RowColumns
from ranking.sorted_sets import unique_sorted

SHOWN_MEMORY = 200_000  # (request id, product) pairs remembered to count a card shown once
PAUSE_ROWS = 640  # FirstShowings given a ``pause`` calls it after each this many rows (32 pages' cards)
TABLE_COLUMNS = ("timestamp", "user_id", "session_id", "product_id", "request_id", "query_id", "store_id",
                 "price_paid", "quantity", "cancelled")


class FirstShowings:
    """Impressions of cards not already seen (see the module docstring).

    The memory is a set of (request id, product) keys and their first showings in order (a
    deque of key lists, the oldest ``_head`` keys of its first list already forgotten): the
    usual rows, each naming a shopper and a card not shown before, are checked and remembered
    by a few C-level passes per :data:`PAUSE_ROWS` rows, where an ordered dict row by row cost
    ~0.45 us a row; any other rows are checked one by one, as they always were."""

    def __init__(self, memory: int = SHOWN_MEMORY) -> None:
        self.memory = memory
        self._keys: set[tuple] = set()
        self._order: deque[list[tuple]] = deque()
        self._head = 0

    def columns(self, rows: RowColumns, pause: Callable[[], None] | None = None) -> RowColumns:
        """The rows to apply (rows held as columns, :mod:`ranking.live.row_columns`), in order;
        ``pause`` is called after each :data:`PAUSE_ROWS` rows."""
        users, sessions = rows.column("user_id"), rows.column("session_id")
        requests, products = rows.column("request_id"), rows.column("product_id")
        kept: list[int] | None = None  # None: every row so far kept (the columns are kept whole)
        for k in range(0, len(rows), PAUSE_ROWS):
            if k and pause is not None:
                pause()
            end = min(k + PAUSE_ROWS, len(rows))
            keys = list(zip(requests[k:end], products[k:end], strict=True))
            fresh = self._fresh(keys, users[k:end], sessions[k:end])
            if fresh is not None:
                self._keys |= fresh
                self._order.append(keys)
                self._forget()
                if kept is not None:
                    kept.extend(range(k, end))
                continue
            kept = list(range(k)) if kept is None else kept
            added: list[tuple] = []
            self._order.append(added)
            for i, key in zip(range(k, end), keys, strict=True):
                if users[i] is None and not sessions[i]:
                    continue  # an anonymous visitor without a session: no shopper to follow
                if key in self._keys:
                    continue
                self._keys.add(key)
                added.append(key)
                if len(self._keys) > self.memory:
                    self._forget()
                kept.append(i)
        return rows if kept is None else rows.take(kept)

    def _fresh(self, keys: list[tuple], users: list, sessions: list) -> set[tuple] | None:
        """The keys as a set when every one is new, among the rows and in the memory, and every
        row without a user names a session (:meth:`_first`'s check, on columns); else None."""
        try:
            fresh = set(keys)
        except TypeError:  # a key that is not hashable: the loop raises as it did
            return None
        usual = (len(fresh) == len(keys) and self._keys.isdisjoint(fresh)
                 and (None not in users or all(compress(sessions, map(is_, users, repeat(None))))))
        return fresh if usual else None

    def remembered(self) -> list[tuple]:
        """The keys remembered, oldest first."""
        return [k for i, keys in enumerate(self._order) for k in (keys[self._head:] if i == 0 else keys)]

    def _forget(self) -> None:
        """Forget the oldest keys beyond :attr:`memory`."""
        excess = len(self._keys) - self.memory
        while excess > 0:
            oldest = self._order[0]
            gone = oldest[self._head:self._head + excess]
            self._keys.difference_update(gone)
            excess -= len(gone)
            self._head += len(gone)
            if self._head >= len(oldest) and oldest is not self._order[-1]:
                self._order.popleft()
                self._head = 0

    def clear(self) -> None:
        self._keys.clear()
        self._order.clear()
        self._head = 0


class BundleLeaves:
    """The bundle's product leaves, looked up for the products the log names."""

    def __init__(self, product_ids: np.ndarray, leaf: np.ndarray) -> None:
        order = np.argsort(product_ids, kind="stable")
        self.ids = np.asarray(product_ids, np.int64)[order]
        self.leaf = np.asarray(leaf, np.int32)[order]

    def of(self, product_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the product ids the bundle knows, their leaves)."""
        product_ids = np.asarray(product_ids, np.int64)
        if not len(self.ids) or not len(product_ids):
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        pos = np.minimum(np.searchsorted(self.ids, product_ids), len(self.ids) - 1)
        known = self.ids[pos] == product_ids
        return product_ids[known], self.leaf[pos[known]]


def column_tables(polled: dict[str, RowColumns], pause: Callable[[], None] | None = None
                  ) -> dict[str, pa.Table]:
    """A poll's rows held as columns (:meth:`LogTail.poll_columns`) as Arrow tables (only the
    columns the state reads, :data:`TABLE_COLUMNS`, each where some row names it), in replay
    order; ``pause`` (the live tail's) between a table's columns gathered and made Arrow arrays."""
    out = {}
    for t in REPLAY_ORDER:
        rows = polled.get(t)
        if rows is None or not len(rows):
            continue
        names = [n for n in TABLE_COLUMNS if rows.has(n)]
        columns = [rows.column(n) for n in names]
        if pause is not None:
            pause()
        out[t] = pa.table(dict(zip(names, columns, strict=True)))
    return out


def products_named(tables: dict[str, pa.Table]) -> np.ndarray:
    """The distinct product ids the tables name."""
    if not tables:
        return np.zeros(0, np.int64)
    return unique_sorted(np.concatenate([t.column("product_id").to_numpy(zero_copy_only=False)
                                     for t in tables.values()]).astype(np.int64))
