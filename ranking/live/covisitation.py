"""Item-to-item co-visitation, learnt incrementally from shoppers' sessions, bounded per item.

When a shopper interacts with item b, each of their previous ``lookback`` items a that came
at most ``window`` before it adds 1/distance to the pair: a -> b in full ("after a, shoppers
went to b") and b -> a times ``backward_weight``. Each item keeps its ``neighbours`` strongest
(neighbour row, weight) slots; weights halve every ``half_life`` (applied lazily when an item
is updated or read), so a pair that stops happening fades and makes room. An update of a
batch is vectorised: the touched items' slots and the new pairs are summed per pair and
each item keeps its top ``neighbours``, newest winning ties.
"""

from __future__ import annotations

import numpy as np

from ranking.live.catalog import grown
from ranking.sorted_sets import unique_sorted


class CoVisitation:
    """Bounded top-K co-visited neighbours per item row, with decay."""

    def __init__(self, neighbours: int, half_life_seconds: float, backward_weight: float) -> None:
        self.k, self.half_life, self.backward = neighbours, half_life_seconds, backward_weight
        self.neighbour = np.zeros((0, neighbours), np.int32)
        self.weight = np.zeros((0, neighbours), np.float32)
        self.updated = np.zeros(0, np.int32)  # live seconds of each item's last decay

    @property
    def capacity(self) -> int:
        """Item rows the arrays have room for."""
        return len(self.updated)

    def reserve(self, rows: int) -> None:
        if self.capacity < rows:
            vars(self).update(self.enlarged(rows))

    def enlarged(self, rows: int) -> dict[str, np.ndarray]:
        """The arrays with at least ``rows`` rows (doubling; new rows empty), by attribute name;
        ``self`` is only read (:mod:`ranking.live.headroom`)."""
        return {"neighbour": grown(self.neighbour, rows, -1), "weight": grown(self.weight, rows, 0),
                "updated": grown(self.updated, rows, 0)}

    def _decay(self, items: np.ndarray, now: int) -> np.ndarray:
        return np.power(0.5, np.maximum(now - self.updated[items], 0) / self.half_life).astype(np.float32)

    def learn(self, before: np.ndarray, after: np.ndarray, weight: np.ndarray, times: np.ndarray) -> None:
        """Shoppers went from ``before`` items to ``after`` items (rows) at ``times``, with these
        weights (decayed to the batch's latest time, so a batch learns what one row at a time would)."""
        ok = (before >= 0) & (after >= 0) & (before != after)
        if not ok.any():
            return
        now = int(times.max())
        weight = weight * np.power(0.5, (now - times) / self.half_life).astype(np.float32)
        src = np.concatenate([before[ok], after[ok]]).astype(np.int64)
        dst = np.concatenate([after[ok], before[ok]]).astype(np.int64)
        w = np.concatenate([weight[ok], weight[ok] * self.backward]).astype(np.float32)
        touched = unique_sorted(src)
        old_n, old_w = self.neighbour[touched], self.weight[touched] * self._decay(touched, now)[:, None]
        held = old_n >= 0
        src = np.concatenate([np.repeat(touched, held.sum(axis=1)), src])
        dst = np.concatenate([old_n[held].astype(np.int64), dst])
        fresh = np.concatenate([np.zeros(int(held.sum()), bool), np.ones(len(w), bool)])
        w = np.concatenate([old_w[held], w])
        keys, inverse = np.unique(src << 32 | dst, return_inverse=True)
        total = np.bincount(inverse, weights=w).astype(np.float32)
        newest = np.zeros(len(keys), bool)
        newest[inverse[fresh]] = True
        s, d = keys >> 32, (keys & 0xFFFFFFFF).astype(np.int32)
        order = np.lexsort((~newest, -total, s))
        s, d, total = s[order], d[order], total[order]
        rank = np.arange(len(s)) - np.searchsorted(s, s)
        top = rank < self.k
        self.neighbour[touched] = -1
        self.weight[touched] = 0
        self.neighbour[s[top], rank[top]] = d[top]
        self.weight[s[top], rank[top]] = total[top]
        self.updated[touched] = now

    def neighbours(self, items: np.ndarray, now: int) -> tuple[np.ndarray, np.ndarray]:
        """(neighbour rows, decayed weights), items x K, strongest first; -1 / 0 where empty."""
        items = np.asarray(items, np.int64)
        known = items < len(self.neighbour)
        n = np.full((len(items), self.k), -1, np.int32)
        w = np.zeros((len(items), self.k), np.float32)
        n[known] = self.neighbour[items[known]]
        w[known] = self.weight[items[known]] * self._decay(items[known], now)[:, None]
        return n, w

    def nbytes(self) -> int:
        return self.neighbour.nbytes + self.weight.nbytes + self.updated.nbytes
