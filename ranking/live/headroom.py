"""The live state's per-row arrays grown ahead of need, outside the lock readers wait on.

Each product's and store's windowed counters, each item's co-visited neighbours and each
shopper's history rings are arrays with a row per product, store or shopper, doubled by their
``reserve`` when a row past their end is written: a copy of every row into arrays twice as long.
Under the embedded backend's lock that copy was the longest single hold a page could wait
behind (the products' hour and day rings from 30,000 to 60,000 rows: 8.7 ms, a helper's scratch
reading, "Stop 48" in docs/speed.md). Here the live tail grows them on its own time, in three steps:

* :func:`plan` (under the lock: a few comparisons) names the parts the next apply may outgrow:
  those of a kind of row (products, stores, shoppers) whose rows in use plus the poll's new
  ones at most (``incoming``) pass ``share`` of the part's room (``live.headroom_share``);
* :func:`build` (outside the lock) copies those parts' arrays into larger ones. The state is
  only read: pages go on reading the old arrays, which hold the same rows;
* :func:`adopt` (under the lock, the apply's) swaps the copies in only when no write reached
  the state since the plan (``LiveState.writes`` unchanged, each part's room unchanged): the
  copies then hold every row, and adopting is a few attribute assignments. Otherwise they are
  dropped (:attr:`Growth.adopted` False) and the apply's own ``reserve`` grows the part under
  the lock as before: a row written meanwhile is never lost, only the head start.

The apply's ``reserve`` stays the rule: a poll bringing more rows than the headroom (a worker's
start-up replay, a burst of new shoppers) still grows there. The sizes follow ``reserve``'s
doubling, reached earlier (at ``share`` of the room), so the arrays hold at most ``1 / share``
times the rows they held before; what a page reads is the same (a row past those used reads as
one never written: zero counts, no neighbour, an empty history).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ranking.live.state import LiveState


class Grows(Protocol):
    """A part of the live state with a row per product, store or shopper."""

    @property
    def capacity(self) -> int: ...

    def enlarged(self, rows: int) -> dict[str, Any]: ...


@dataclass
class Growth:
    """Parts to grow and, once :func:`build` ran, their larger arrays; planned at ``writes``."""

    writes: int
    targets: list[tuple[Grows, int, int]]  # (part, its room when planned, the room to give it)
    arrays: list[dict[str, Any]] = field(default_factory=list)
    adopted: bool = False


def parts(state: LiveState) -> dict[str, tuple[int, list[Grows]]]:
    """Per kind of row: (rows in use, the parts holding a row of that kind)."""
    h = state.history
    return {"products": (len(state.catalog.products),
                         [state.products.hour, state.products.day, state.covisitation]),
            "stores": (len(state.catalog.stores), [state.stores.hour, state.stores.day]),
            "shoppers": (state.shoppers.rows, [h.interactions, h.queries, h.bought, h.ignored])}


def room(used: int, incoming: int, capacity: int, share: float) -> int:
    """The room to give a part holding ``capacity`` rows, ``used`` of them, before ``incoming``
    more arrive: ``capacity`` itself while they stay within ``share`` of it, else doubled (at
    least 16, and enough for them to stay within ``share``)."""
    need = used + incoming
    if need <= share * capacity:
        return capacity
    return max(math.ceil(need / share), 2 * capacity, 16)


def plan(state: LiveState, incoming: dict[str, int], share: float) -> Growth | None:
    """The parts to grow before rows of ``incoming`` (per kind: how many new rows at most) are
    applied, or None; call it under the lock the state's writers hold."""
    targets = []
    for kind, (used, held) in parts(state).items():
        for part in held:
            capacity = part.capacity
            size = room(used, incoming.get(kind, 0), capacity, share)
            if size > capacity:
                targets.append((part, capacity, size))
    return Growth(state.writes, targets) if targets else None


def build(growth: Growth, pause: Callable[[], None] | None = None) -> Growth:
    """Copy each planned part's arrays into larger ones (outside the lock: the parts are only
    read); ``pause`` (the live tail's) is called between parts."""
    for k, (part, _, size) in enumerate(growth.targets):
        if k and pause is not None:
            pause()
        growth.arrays.append(part.enlarged(size))
    return growth


def adopt(state: LiveState, growth: Growth) -> bool:
    """Swap the built arrays in when nothing was written since the plan; call it under the lock.
    Return whether they were (False: dropped, the apply grows what it needs itself)."""
    unchanged = state.writes == growth.writes and len(growth.arrays) == len(growth.targets) and all(
        part.capacity == capacity for part, capacity, _ in growth.targets)
    if unchanged:
        for (part, _, _), arrays in zip(growth.targets, growth.arrays, strict=True):
            vars(part).update(arrays)
    growth.adopted = unchanged
    return unchanged


def incoming(tables: dict[str, pa.Table], products: np.ndarray) -> dict[str, int]:
    """Per kind of row, how many new rows a poll's tables may bring at most: its distinct
    ``products`` (:func:`ranking.live.log_rows.products_named`), the distinct stores, users and
    sessions its tables name (summed over tables: an upper bound)."""
    def distinct(column: str) -> int:  # (a column of nulls alone has no count_distinct kernel)
        named = [t.column(column) for t in tables.values() if column in t.column_names]
        return sum(pc.count_distinct(c).as_py() for c in named if c.null_count < len(c))

    return {"products": len(products), "stores": distinct("store_id"),
            "shoppers": distinct("user_id") + distinct("session_id")}
