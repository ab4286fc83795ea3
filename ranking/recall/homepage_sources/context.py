"""The shopper context: who is asking, hydrated once per homepage request.

Every homepage source reads this one object instead of looking the shopper up itself:
the user's row, their strongest recent items (recency-weighted interaction weight),
their favourite leaves at this time slot, the leaves they touched lately and the leaves
they bought. :class:`ShopperContextBuilder` fills it from the bundle's frozen tables.

With the shopper's live view (:class:`ranking.live.ShopperView`: what they did seconds ago,
as the event log says), the builder merges it in front of the frozen history
(:meth:`ShopperContextBuilder.add_live`): the live items, newest first, lead
``recent_items`` (so recently_viewed, personal and similar follow them), the leaves of the
live items lead ``recent_leaves`` (recent_categories), and the leaves of live purchases join
``bought_leaves`` (repurchase). A shopper the bundle does not know (a new user, an anonymous
session) is then known by their live history alone. Without a live view (live off, degraded,
or a shopper with no live history) the context is exactly the frozen one.

A context depends only on the user, the hour and the live view's items and purchases (and the
fitted tables, which a builder never sees change: ``HomepageRecall.replace_arrays`` makes a new
builder), so the builder keeps each one it built under those (:attr:`ShopperContextBuilder.kept`,
bounded, its arrays read-only): merging a live view cost about 0.2 ms a homepage, the frozen
context alone about 40 us. A new click or purchase is another key: built again.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ranking.bounded_memo import BoundedMemo, read_only
from ranking.mall_clock import slot_of
from ranking.row_lookup import RowLookup

if TYPE_CHECKING:
    from ranking.live.state import ShopperView

TOP_LEAVES = 3  # top_categories and trending read the user's three favourite leaves at this slot
LIVE_DECAY = 0.8  # a live item's weight: the frozen top weight x (1 + this ** its recency rank)
CONTEXT_MEMO = 4_096  # contexts kept (a few small arrays each: about 6 MB when full)


@functools.lru_cache(maxsize=64)
def _decay(n: int) -> np.ndarray:
    """``LIVE_DECAY ** np.arange(n)``, made once per length (read-only): the same values each time."""
    return read_only(LIVE_DECAY ** np.arange(n))


def _empty(dtype: type = np.int64) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


@dataclass
class ShopperContext:
    """One request's shopper, as every homepage source sees them (product and leaf rows).

    ``row`` is the user's row in the fitted tables (-1: anonymous or unknown, every
    per-user array then empty); ``slot`` the hour's time slot (0 morning, 1 afternoon,
    2 evening).
    """

    user_id: int | None
    hour: int
    slot: int
    row: int = -1
    recent_items: np.ndarray = field(default_factory=_empty)  # product rows, strongest first
    recent_weights: np.ndarray = field(default_factory=lambda: _empty(np.float32))
    top_leaves: np.ndarray = field(default_factory=_empty)  # favourite leaves at this slot
    recent_leaves: np.ndarray = field(default_factory=_empty)  # strongest first
    recent_leaf_weights: np.ndarray = field(default_factory=lambda: _empty(np.float32))
    bought_leaves: np.ndarray = field(default_factory=_empty)  # ascending
    live: bool = False  # the live view added something

    @property
    def known(self) -> bool:
        """The bundle knows the user, or the live state knows the shopper."""
        return self.row >= 0 or self.live


class ShopperContextBuilder:
    """Builds :class:`ShopperContext` from the homepage recall's fitted arrays."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.a = arrays
        self._rows = RowLookup(arrays["product_ids"]) if "product_ids" in arrays else None
        # (user, hour[, live items' bytes, live purchases' bytes]) -> the context built for them
        self.kept: BoundedMemo = BoundedMemo(CONTEXT_MEMO)

    def build(self, user_id: int | None, hour: int, live: ShopperView | None = None) -> ShopperContext:
        """The shopper's context, as :meth:`fresh` builds it: kept per user, hour and live view's
        items and purchases (shared by the requests that read it: never written after it is built)."""
        merged = live is not None and live.known and len(live.items) + len(live.bought) > 0
        key = (user_id, hour) if not merged else (user_id, hour, np.asarray(live.items, np.int64).tobytes(),
                                                  np.asarray(live.bought, np.int64).tobytes())
        def made() -> ShopperContext:
            context = self.fresh(user_id, hour, live if merged else None)
            read_only(tuple(vars(context).values()))
            return context

        return self.kept.kept(key, made)  # the oldest out past CONTEXT_MEMO

    def fresh(self, user_id: int | None, hour: int, live: ShopperView | None = None) -> ShopperContext:
        """The shopper's context, built from the fitted tables and the live view (nothing kept)."""
        context = ShopperContext(user_id=user_id, hour=hour, slot=slot_of(hour),
                                 row=self.user_row(user_id))
        if context.row >= 0:
            self.add_recent_items(context)
            self.add_top_leaves(context)
            self.add_recent_leaves(context)
            self.add_bought_leaves(context)
        if live is not None and live.known and len(live.items) + len(live.bought):
            self.add_live(context, live)
        return context

    def product_rows(self, product_ids: np.ndarray) -> np.ndarray:
        """Rows of product ids in the fitted tables (-1 for a product the bundle does not know)."""
        if self._rows is None or not len(product_ids):
            return np.full(len(product_ids), -1, np.int64)
        return self._rows.rows(np.asarray(product_ids, dtype=np.int64))

    def add_live(self, c: ShopperContext, live: ShopperView) -> None:
        """The live history in front of the frozen one (see the module docstring). A live view's
        ~20 items and a frozen history's ~20 are merged as Python ints (the same arrays as the numpy
        calls that merged them, ``np.isin``'s answer by a set: about a third of their time, on every
        first-time shopper's homepage)."""
        rows = self.held_rows(list(dict.fromkeys(live.items.tolist())))  # distinct, newest first
        top = float(c.recent_weights.max()) if len(c.recent_weights) else 1.0
        live_w = (top * _decay(len(rows))).astype(np.float32) + top
        live_rows = set(rows)
        frozen = c.recent_items.tolist()
        old = [i for i, item in enumerate(frozen) if item not in live_rows]
        c.recent_items = np.array(rows + [frozen[i] for i in old], dtype=np.int64)
        c.recent_weights = np.concatenate([live_w, c.recent_weights[old]]).astype(np.float32, copy=False)
        leaf = self.a["product_leaf"][rows].tolist() if "product_leaf" in self.a else []
        self.add_live_leaves(c, [lf for lf in leaf if lf >= 0])
        if len(live.bought) and "product_leaf" in self.a:
            bought = self.held_rows(np.asarray(live.bought, np.int64).tolist())
            b_leaf = self.a["product_leaf"][bought]
            c.bought_leaves = np.union1d(c.bought_leaves, b_leaf[b_leaf >= 0]).astype(np.int64)
        c.live = True

    def held_rows(self, product_ids: list[int]) -> list[int]:
        """The fitted rows of the products the bundle knows among ``product_ids``, in their order."""
        return self._rows.held_rows(product_ids) if self._rows is not None else []

    @staticmethod
    def add_live_leaves(c: ShopperContext, leaf: list[int]) -> None:
        """The live items' leaves (newest first, unknown ones left out) in front of the frozen recent
        leaves: most touched first, then most recent, each weighted ``top * (1 + its share)``. On a
        live view's ~20 items a dict in first-touch order and a stable sort by count give
        ``np.unique`` + ``np.lexsort((first, -counts))``'s order in a fraction of their calls' time
        (a first-time shopper's context; tested against that form)."""
        if not leaf:
            return
        counts: dict[int, int] = {}
        for lf in leaf:  # insertion order: each leaf's first (most recent) touch
            counts[lf] = counts.get(lf, 0) + 1
        order = sorted(counts, key=lambda lf: -counts[lf])  # stable: ties stay most recent first
        top_leaf = float(c.recent_leaf_weights.max()) if len(c.recent_leaf_weights) else 1.0
        touched = np.array([counts[lf] for lf in order], np.int64)
        weights = (top_leaf + top_leaf * touched / len(leaf)).astype(np.float32)
        frozen = c.recent_leaves.tolist()
        keep = [i for i, lf in enumerate(frozen) if lf not in counts]
        c.recent_leaves = np.array(order + [frozen[i] for i in keep], dtype=np.int64)
        c.recent_leaf_weights = np.concatenate([weights, c.recent_leaf_weights[keep]]).astype(np.float32,
                                                                                              copy=False)

    def user_row(self, user_id: int | None) -> int:
        if user_id is None:
            return -1
        users = self.a["user_ids"]
        pos = int(np.searchsorted(users, user_id))
        return pos if pos < len(users) and users[pos] == user_id else -1

    def add_recent_items(self, c: ShopperContext) -> None:
        lo, hi = self.a["recent_ptr"][c.row], self.a["recent_ptr"][c.row + 1]
        c.recent_items, c.recent_weights = self.a["recent_items"][lo:hi], self.a["recent_weights"][lo:hi]

    def add_top_leaves(self, c: ShopperContext) -> None:
        if len(self.a["user_leaf_slot"]):
            taste = self.a["user_leaf_slot"][c.row, :, c.slot]
            c.top_leaves = np.argsort(-taste, kind="stable")[:TOP_LEAVES]

    def add_recent_leaves(self, c: ShopperContext) -> None:
        if "user_leaf_ptr" not in self.a:  # a bundle fitted before recent_categories existed
            return
        lo, hi = self.a["user_leaf_ptr"][c.row], self.a["user_leaf_ptr"][c.row + 1]
        c.recent_leaves, c.recent_leaf_weights = self.a["user_leaf"][lo:hi], self.a["user_leaf_weight"][lo:hi]

    def add_bought_leaves(self, c: ShopperContext) -> None:
        if "bought_keys" not in self.a or not len(self.a["bought_keys"]):
            return
        stride = int(self.a["bought_stride"][0])
        keys = self.a["bought_keys"]
        lo, hi = np.searchsorted(keys, [c.row * stride, (c.row + 1) * stride])
        c.bought_leaves = keys[lo:hi] - c.row * stride
