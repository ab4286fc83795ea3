"""Which signed-in shoppers a poll of the live state changed, and how every worker hears of them.

:func:`shoppers_touched` names the distinct users of a poll's clicks, carts and orders (the tables
a shopper's homepage history reads; an anonymous row names no user). The embedded backend tells
its own worker directly after each apply (``EmbeddedLiveState.on_shoppers``). With the Redis
backend one worker of the host applies the log for all of them, so its applier pushes each
poll's users as one entry of the stream ``<live.redis_prefix>shoppers`` (:func:`push_shoppers`,
trimmed to about ``live.redis_shoppers_stream_max_len`` entries), and every worker reads it from
where it was when it started listening (:class:`ShoppersFeed`): each then computes those
shoppers' homepage lists in its idle moments (:mod:`ranking.live.homepage_ahead`). It is a hint:
an entry lost (a failed push, a trimmed stream, a worker that started later, the backlog an
applier catches up before its service listens) only means a page computes its lists itself, as
before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from ranking.live.redis_client import guarded

HISTORY_TABLES = ("clicks", "carts", "orders")  # the tables a shopper's homepage history reads
SHOPPERS_STREAM = "shoppers"
READ_BATCH = 1000  # entries read per call (an entry is one applier poll's users)


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


def push_shoppers(redis: Any, url: str, prefix: str, users: list[int], max_len: int,
                  max_users: int) -> None:
    """One entry of the shoppers stream naming ``users``, the last ``max_users`` of them (a replay
    of the whole log names every user it holds; a worker keeps no more waiting: the applier,
    after a poll's apply; LiveBackendError on failure)."""
    if not users or max_users <= 0:
        return
    with guarded(url):
        redis.xadd(f"{prefix}{SHOPPERS_STREAM}", {"ids": ",".join(map(str, users[-max_users:]))},
                   maxlen=max_len, approximate=True)


def _user(text: bytes) -> int | None:
    """A user id of an entry, None for anything else (an entry no applier of this version wrote)."""
    try:
        return int(text)
    except ValueError:
        return None


class ShoppersFeed:
    """The shoppers stream from its newest entry at the first :meth:`poll` on (module docstring)."""

    def __init__(self, redis: Any, url: str, prefix: str) -> None:
        self.redis, self.url, self.key = redis, url, f"{prefix}{SHOPPERS_STREAM}"
        self.last_id: bytes | str | None = None  # None: not listening yet

    def poll(self) -> list[int]:
        """The users named since the last poll, each once, in the order first named; the first
        poll only marks where the stream ends (what was pushed before nobody listened is old)."""
        with guarded(self.url):
            if self.last_id is None:
                newest = self.redis.xrevrange(self.key, count=1)
                self.last_id = newest[0][0] if newest else "0-0"
                return []
            users: dict[int, None] = {}
            while True:
                answer = self.redis.xread({self.key: self.last_id}, count=READ_BATCH)
                entries = answer[0][1] if answer else []
                for entry_id, fields in entries:
                    self.last_id = entry_id  # past it whatever it holds: a bad entry is read once
                    users.update(dict.fromkeys(u for u in map(_user, fields.get(b"ids", b"").split(b","))
                                               if u is not None))
                if len(entries) < READ_BATCH:
                    return list(users)
