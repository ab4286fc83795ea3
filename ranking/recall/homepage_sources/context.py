"""The shopper context: who is asking, hydrated once per homepage request.

Every homepage source reads this one object instead of looking the shopper up itself:
the user's row, their strongest recent items (recency-weighted interaction weight),
their favourite leaves at this time slot, the leaves they touched lately and the leaves
they bought. :class:`ShopperContextBuilder` fills it from the bundle's frozen tables.

It is the place a live layer plugs in next: the shopper's live recent interactions from
the event stream, session intent, live counters of the candidates. Such a layer adds
fields (with defaults) and a builder step; the sources that do not read them are untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ranking.mall_clock import slot_index

TOP_LEAVES = 3  # top_categories and trending read the user's three favourite leaves at this slot


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

    @property
    def known(self) -> bool:
        return self.row >= 0


class ShopperContextBuilder:
    """Builds :class:`ShopperContext` from the homepage recall's fitted arrays."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.a = arrays

    def build(self, user_id: int | None, hour: int) -> ShopperContext:
        context = ShopperContext(user_id=user_id, hour=hour, slot=int(slot_index(hour)),
                                 row=self.user_row(user_id))
        if context.known:
            self.add_recent_items(context)
            self.add_top_leaves(context)
            self.add_recent_leaves(context)
            self.add_bought_leaves(context)
        return context

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
