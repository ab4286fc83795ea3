"""Where a worker reads the catalog changes from: this host's log, or the Redis stream.

* :class:`LogCatalogFeed` (embedded backend, and with the live state off): a
  :class:`~ranking.live.log_tail.LogTail` over the catalog tables of ``serving.events_dir``
  (every writer's files, torn tails never read, rotation followed); the first poll reads them
  from their start (the replay at start). A poll's rows come in the order the service received
  them (``_received_ms``; a ban and an upsert of the same product apply in that order).
* :class:`RedisCatalogFeed` (Redis backend): the stream ``<live.redis_prefix>catalog``. The host's
  one applier (:mod:`ranking.live.redis_backend`) pushes each poll's catalog rows of its log as
  one entry (:func:`push_catalog_rows`) before it stores its log positions, so delivery is at
  least once (folding twice is harmless: :mod:`ranking.live.catalog_state`); every worker of
  every host reads the stream from its start, then from the last entry it read. A failed read
  raises :class:`~ranking.live.errors.LiveBackendError` and reads the same entries next poll.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ranking.catalog_changes import CATALOG_TABLES
from ranking.event_tables import RECEIVED_KEY
from ranking.live.log_tail import LogTail
from ranking.live.redis_client import guarded

STREAM = "catalog"
READ_BATCH = 1000  # stream entries read per call (an entry is one applier poll's rows)


def in_received_order(rows: dict[str, list[dict]], tables: tuple[str, ...] = CATALOG_TABLES
                      ) -> list[tuple[str, dict]]:
    """A poll's rows of ``tables`` (the catalog's, or the merchandising changes') as ``(table, row)``
    pairs, in the order the service received them."""
    pairs = [(table, row) for table in tables for row in rows.get(table, [])]
    pairs.sort(key=lambda p: p[1].get(RECEIVED_KEY) or 0)
    return pairs


class LogCatalogFeed:
    """The catalog tables of this host's event log (module docstring); ``tables`` others of the
    same kind (the merchandising changes: :mod:`ranking.live.merch_follower`)."""

    def __init__(self, events_dir: str | Path, tables: tuple[str, ...] = CATALOG_TABLES) -> None:
        self.tables = tables
        self.tail = LogTail(Path(events_dir), tables=tables)

    def poll(self) -> list[tuple[str, dict]]:
        return in_received_order(self.tail.poll(), self.tables)

    def close(self) -> None:
        self.tail.close()


def stream_key(prefix: str, stream: str = STREAM) -> str:
    return f"{prefix}{stream}"


def push_catalog_rows(redis: Any, url: str, prefix: str, pairs: list[tuple[str, dict]], max_len: int,
                      stream: str = STREAM) -> None:
    """One entry of ``stream`` (the catalog's, or another change stream) holding a poll's rows (the
    applier; LiveBackendError on failure)."""
    if not pairs:
        return
    payload = json.dumps([[t, r] for t, r in pairs], ensure_ascii=False, separators=(",", ":"))
    with guarded(url):
        if max_len:
            redis.xadd(stream_key(prefix, stream), {"rows": payload}, maxlen=max_len, approximate=True)
        else:
            redis.xadd(stream_key(prefix, stream), {"rows": payload})


class RedisCatalogFeed:
    """The Redis stream of catalog changes (or ``stream``'s), from its start (module docstring)."""

    def __init__(self, redis: Any, url: str, prefix: str, stream: str = STREAM) -> None:
        self.redis, self.url, self.key = redis, url, stream_key(prefix, stream)
        self.last_id: bytes | str = "0-0"

    def poll(self) -> list[tuple[str, dict]]:
        out: list[tuple[str, dict]] = []
        last = self.last_id  # moved only once every entry read is returned
        while True:
            with guarded(self.url):
                answer = self.redis.xread({self.key: last}, count=READ_BATCH)
            entries = answer[0][1] if answer else []
            for entry_id, fields in entries:
                out.extend((t, r) for t, r in json.loads(fields[b"rows"]))
                last = entry_id
            if len(entries) < READ_BATCH:
                self.last_id = last
                return out

    def close(self) -> None:
        pass
