"""What each poll of the live state changed (its signed-in shoppers and its products), and how every
worker hears of it.

:func:`shoppers_touched` names the distinct users of a poll's clicks, carts and orders (the tables
a shopper's homepage history reads; an anonymous row names no user). The embedded backend tells
its own worker directly after each apply (``EmbeddedLiveState.on_shoppers``). With the Redis
backend one worker of the host applies the log for all of them, so its applier pushes each
poll's users and products as one entry of the stream ``<live.redis_prefix>applied``
(:func:`push_applied`, trimmed to about ``live.redis_applied_stream_max_len`` entries), and every
worker reads it from where it was when it started listening (:class:`AppliedFeed`):

* the users go to its homepage lists computed ahead (:mod:`ranking.live.homepage_ahead`), a hint:
  an entry lost (a failed push, a trimmed stream, a worker that started later, the backlog an
  applier catches up before its service listens) only means a page computes its lists itself;
* the products go to its kept live counters (:mod:`ranking.live.signals_cache`), which drop
  them; a poll naming more than ``live.redis_applied_products_max`` products (a replay of the
  whole log) names none and says "every product" instead. A lost entry there leaves counters up
  to ``live.redis_signals_max_age_ms`` old, the bound that cache keeps anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ranking.live.catalog_feed import READ_BATCH, stream_key
from ranking.live.redis_client import guarded

HISTORY_TABLES = ("clicks", "carts", "orders")  # the tables a shopper's homepage history reads
APPLIED_STREAM = "applied"
EVERY = b"*"  # an entry's products: every product changed (a replay)
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def shoppers_touched(tables: Mapping[str, pa.Table]) -> list[int]:
    """The distinct signed-in users of a poll's clicks, carts and orders (no anonymous row, and no
    user id that is not an integer: a row the live state will refuse)."""
    users: dict[int, None] = {}
    for name in HISTORY_TABLES:
        table = tables.get(name)
        if table is not None and "user_id" in table.column_names:
            users.update(dict.fromkeys(u for u in table.column("user_id").to_pylist()
                                       if isinstance(u, int) and not isinstance(u, bool)))
    return list(users)


def push_applied(redis: Any, url: str, prefix: str, users: list[int], products: np.ndarray, max_len: int,
                 max_users: int, max_products: int) -> None:
    """One entry of the applied stream naming a poll's ``users`` (the last ``max_users``: a worker
    keeps no more waiting) and ``products`` (or every product, above ``max_products``); nothing
    when it names neither (the applier, after a poll's apply; LiveBackendError on failure)."""
    users = users[-max_users:] if max_users > 0 else []
    if not users and not len(products):
        return
    named = EVERY if len(products) > max_products else ",".join(map(str, products.tolist())).encode()
    with guarded(url):
        redis.xadd(stream_key(prefix, APPLIED_STREAM), {"users": ",".join(map(str, users)),
                                                         "products": named}, maxlen=max_len, approximate=True)


@dataclass
class Applied:
    """What the entries read in one :meth:`AppliedFeed.poll` named."""

    users: list[int]
    products: list[int]
    every_product: bool = False  # a replay (or an entry too large to name its products)


def _ids(text: bytes) -> list[int]:
    """An entry's ids; anything not an int64 integer is left out (an entry no applier of this
    version wrote: a product or user id is an int64 everywhere else)."""
    out = []
    for part in text.split(b","):
        try:
            value = int(part)
        except ValueError:
            continue
        if INT64_MIN <= value <= INT64_MAX:
            out.append(value)
    return out


class AppliedFeed:
    """The applied stream from its newest entry at the first :meth:`poll` on (module docstring)."""

    def __init__(self, redis: Any, url: str, prefix: str) -> None:
        self.redis, self.url, self.key = redis, url, stream_key(prefix, APPLIED_STREAM)
        self.last_id: bytes | str | None = None  # None: not listening yet

    def poll(self) -> Applied:
        """What the entries since the last poll named, each id once, in the order first named; the
        first poll only marks where the stream ends (what was pushed before nobody listened is old)."""
        users: dict[int, None] = {}
        products: dict[int, None] = {}
        every = False
        with guarded(self.url):
            if self.last_id is None:
                newest = self.redis.xrevrange(self.key, count=1)
                self.last_id = newest[0][0] if newest else "0-0"
                return Applied([], [])
            while True:
                answer = self.redis.xread({self.key: self.last_id}, count=READ_BATCH)
                entries = answer[0][1] if answer else []
                for entry_id, fields in entries:
                    self.last_id = entry_id  # past it whatever it holds: a bad entry is read once
                    users.update(dict.fromkeys(_ids(fields.get(b"users", b""))))
                    named = fields.get(b"products", b"")
                    every = every or named == EVERY
                    products.update(dict.fromkeys(_ids(named)))
                if len(entries) < READ_BATCH:
                    return Applied(list(users), list(products), every)
