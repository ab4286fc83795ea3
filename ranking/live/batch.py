"""A batch of logged rows as numpy columns, checked: the live state's only input shape.

Rows come in the event log's contract shapes (``ranking.contracts.tables``: impressions,
clicks, carts, orders), as JSON-like dicts or an Arrow table, plus an optional
``session_id`` (a string of at most 128 characters) beside ``user_id``, which may then be
null: the session is the shopper. A row that names no shopper, or a session id that is not
a short string, is refused with :class:`LiveInputError` saying which row and why (the
service answers 4xx); nothing is dropped silently.

Times are kept as int32 seconds since 2020-01-01 UTC (:func:`to_live_seconds`), half the
size of epoch milliseconds, good until 2088.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from ranking.sorted_sets import unique_sorted

MAX_SESSION_ID_CHARS = 128
EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
KINDS = ("click", "cart", "order")  # what the interaction ring holds (impressions are counted apart)
KIND_CODE = {"impressions": -1, "clicks": 0, "carts": 1, "orders": 2}
Rows = Sequence[Mapping[str, Any]] | pa.Table


class LiveInputError(ValueError):
    """A row the live state cannot take, with the reason (a 4xx for the service)."""


def to_live_seconds(epoch_ms: np.ndarray | int) -> np.ndarray:
    """Epoch milliseconds as the live state's int32 seconds since 2020-01-01."""
    return ((np.asarray(epoch_ms, dtype=np.int64) - EPOCH_MS) // 1000).astype(np.int32)


def live_second(epoch_ms: int) -> int:
    """:func:`to_live_seconds` of one time as a Python int (wrapped to int32 as it wraps): a
    request's time, without a numpy round trip per read."""
    return ((int(epoch_ms) - EPOCH_MS) // 1000 + 2**31) % 2**32 - 2**31


def to_epoch_ms(seconds: np.ndarray | int) -> np.ndarray:
    """The live state's seconds back to epoch milliseconds."""
    return np.asarray(seconds, dtype=np.int64) * 1000 + EPOCH_MS


@dataclass
class EventBatch:
    """One table's rows as columns; ``user_id`` is -1 where the row names only a session."""

    table: str
    kind: np.ndarray  # int8 per row: KIND_CODE of its table (-1 impression)
    time: np.ndarray  # int32 live seconds
    user_id: np.ndarray  # int64, -1 = none
    session_id: list[str | None]
    product_id: np.ndarray  # int64
    request_id: np.ndarray  # int64, -1 = none
    query_id: np.ndarray  # int64, -1 = none
    store_id: np.ndarray  # int32, -1 = none
    gmv: np.ndarray  # float32 (orders: price_paid x quantity)
    cancelled: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.time)


Column = list | pa.ChunkedArray  # an Arrow table's columns stay Arrow until read


def _columns(rows: Rows) -> dict[str, Column]:
    if isinstance(rows, pa.Table):
        table = rows
        if "timestamp" in table.column_names and pa.types.is_timestamp(table.schema.field("timestamp").type):
            table = table.set_column(table.column_names.index("timestamp"), "timestamp",
                                     table.column("timestamp").cast(pa.int64()))
        return {name: table.column(name) for name in table.column_names}
    names = {key for row in rows for key in row}
    return {name: [row.get(name) for row in rows] for name in names}


class _Nulls(list):
    """A column no row fills (left out, empty, or Arrow's null type): its Nones are read as a
    whole, without a Python step per row (a poll's impressions name no store, few a session)."""


def _pylist(values: Column) -> list:
    if not isinstance(values, pa.ChunkedArray):
        return values
    return _Nulls([None] * len(values)) if pa.types.is_null(values.type) else values.to_pylist()


def _ints(values: Column, name: str, table: str, required: bool) -> np.ndarray:
    if (isinstance(values, pa.ChunkedArray) and pa.types.is_signed_integer(values.type)
            and not (required and values.null_count)):
        # an integer Arrow column (the event log's, read back): no Python int per row
        return (values.fill_null(-1) if values.null_count else values).to_numpy().astype(np.int64)
    values = _pylist(values)
    if isinstance(values, _Nulls) and not (required and values):
        return np.full(len(values), -1, np.int64)
    if required and any(v is None for v in values):
        bad = next(i for i, v in enumerate(values) if v is None)
        raise LiveInputError(f"{table} row {bad}: {name} is missing")
    try:
        return np.array([-1 if v is None else int(v) for v in values], dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise LiveInputError(f"{table}: {name} must be integers ({exc})") from exc


def _sessions(values: list, table: str) -> list[str | None]:
    if isinstance(values, _Nulls):
        return [None] * len(values)
    for i, v in enumerate(values):
        if v is not None and (not isinstance(v, str) or not v or len(v) > MAX_SESSION_ID_CHARS):
            raise LiveInputError(f"{table} row {i}: session_id must be a non-empty string of at most "
                                 f"{MAX_SESSION_ID_CHARS} characters")
    return [v if v is not None else None for v in values]


def _flags(values: list) -> np.ndarray:
    if isinstance(values, _Nulls):
        return np.zeros(len(values), bool)
    return np.array([bool(v) for v in values], dtype=bool)


def event_batch(table: str, rows: Rows) -> EventBatch:
    """Check ``rows`` of a logged ``table`` and return them as columns."""
    if table not in KIND_CODE:
        raise LiveInputError(f"table {table!r} is not a shopper event; use one of {sorted(KIND_CODE)}")
    cols = _columns(rows)
    n = len(next(iter(cols.values()))) if cols else 0
    def col(name: str) -> Column:
        return cols[name] if name in cols and len(cols[name]) else _Nulls([None] * n)
    times = _ints(col("timestamp"), "timestamp", table, required=True)
    users = _ints(col("user_id"), "user_id", table, required=False)
    named = _pylist(col("session_id"))
    sessions = _sessions(named, table)
    nobody = users < 0
    if not isinstance(named, _Nulls):
        nobody &= np.array([s is None for s in sessions], dtype=bool)
    if nobody.any():
        raise LiveInputError(f"{table} row {int(np.argmax(nobody))}: names no shopper "
                             "(user_id or session_id)")
    gmv = np.zeros(n, np.float32)
    if table == "orders":
        price = np.array([float(v or 0.0) for v in _pylist(col("price_paid"))])
        quantity = np.array([1 if v is None else int(v) for v in _pylist(col("quantity"))])
        gmv = (price * quantity).astype(np.float32)
    return EventBatch(
        table=table, kind=np.full(n, KIND_CODE[table], np.int8), time=to_live_seconds(times), user_id=users,
        session_id=sessions,
        product_id=_ints(col("product_id"), "product_id", table, required=True),
        request_id=_ints(col("request_id"), "request_id", table, required=False),
        query_id=_ints(col("query_id"), "query_id", table, required=False),
        store_id=_ints(col("store_id"), "store_id", table, required=False).astype(np.int32),
        gmv=gmv, cancelled=_flags(_pylist(col("cancelled"))),
    )


def concat_batches(batches: list[EventBatch]) -> EventBatch:
    """One batch of several tables' rows (replay applies a chunk's clicks, carts and orders at once,
    in time order)."""
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in batches])
    return EventBatch(
        table="+".join(b.table for b in batches), kind=cat("kind"), time=cat("time"), user_id=cat("user_id"),
        session_id=[s for b in batches for s in b.session_id], product_id=cat("product_id"),
        request_id=cat("request_id"), query_id=cat("query_id"), store_id=cat("store_id"), gmv=cat("gmv"),
        cancelled=cat("cancelled"))


REPLAY_ORDER = ("impressions", "clicks", "carts", "orders")  # within one replay chunk


def replay_chunks(tables: Mapping[str, pa.Table], chunk_minutes: float = 60.0
                  ) -> Iterator[tuple[dict[str, int], list[EventBatch]]]:
    """The logged tables (as ``read_event_log`` returns them) in time order, the way every live
    backend replays them: per chunk of ``chunk_minutes``, the rows per table and the batches to
    apply, its impressions first, then its clicks, carts and orders together in time order."""
    times = {t: tables[t].column("timestamp").cast(pa.int64()).to_numpy()
             for t in REPLAY_ORDER if t in tables and tables[t].num_rows}
    if not times:
        return
    width = int(chunk_minutes * 60_000)
    chunk = {t: v // width for t, v in times.items()}
    chunks = unique_sorted(np.concatenate(list(chunk.values())))
    whole = len(chunks) == 1  # the usual poll: one chunk is the tables whole, no filter to run
    for c in chunks:
        parts = {t: event_batch(t, tables[t] if whole else tables[t].filter(pa.array(chunk[t] == c)))
                 for t in chunk}
        parts = {t: b for t, b in parts.items() if len(b)}
        counts = {t: len(b) for t, b in parts.items()}
        batches = [parts.pop("impressions")] if "impressions" in parts else []
        if parts:
            batches.append(concat_batches(list(parts.values())))
        yield counts, batches
