"""The durable event log: what the service acknowledges, training can read back.

Layout: ``<events_dir>/<table>/<writer>.jsonl`` — one append-only file per table and
writer process (so several service workers never interleave), one JSON object per line
in the table's contract shape, timestamps as UTC epoch milliseconds. ``append`` writes a
whole batch with one ``write`` on an ``O_APPEND`` descriptor and ``fsync``s it before
returning: once it returns, the events survive ``kill -9`` and power loss of the
process. A crash mid-write can only leave an unacknowledged partial last line, which
:func:`read_event_log` skips (and counts).

A full or read-only disk raises :class:`EventLogUnavailableError` (the service answers 503)
and leaves the files as they were.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ranking.contracts.io import conform
from ranking.contracts.tables import TABLES, TIMESTAMP, Column, TableContract

LOGGED_TABLES = ("impressions", "clicks", "carts", "orders")
EXPOSURES = TableContract(
    "exposures",
    "one card the service itself returned (logged after the response, once per request)",
    (
        Column("request_id", pa.int64(), "the ranking request"),
        Column("timestamp", TIMESTAMP, "when the page was ranked"),
        Column("user_id", pa.int64(), "who asked; null for an anonymous visitor", nullable=True),
        Column("surface", pa.string(), "search, homepage or channel",
               allowed=("search", "homepage", "channel")),
        Column("query_id", pa.int64(), "ranking.text.query_id of the query; null off search",
               nullable=True),
        Column("typed_query_id", pa.int64(), "query_id of the query as typed when spelling correction "
               "rewrote it (query_id is then the corrected one); null otherwise", nullable=True),
        Column("query", pa.string(), "the query text searched (after spelling correction), so "
               "merge-events can give query_id its text; null off search", nullable=True),
        Column("typed_query", pa.string(), "the query as typed when spelling correction rewrote it; "
               "null otherwise", nullable=True),
        Column("product_id", pa.int64(), "the product on the card"),
        Column("position", pa.int16(), "1-based slot", min=1),
        Column("experiment", pa.string(), "experiment(s) the request was in, comma-joined; none"),
        Column("variant", pa.string(), "variant(s) that served it, comma-joined"),
        Column("team", pa.string(), "interleaving: the variant that contributed the card",
               nullable=True),
        Column("shared", pa.bool_(), "interleaving: both variants' pages held the card, so what "
               "the shopper does with it favours neither", nullable=True),
        Column("propensity", pa.float64(), "probability of this card at this position",
               min=0.0, max=1.0),
        Column("bundle_version", pa.string(), "bundle that scored the card"),
        Column("latency_ms", pa.float32(), "server time to rank the page (latency guardrail)",
               nullable=True),
    ),
    group="service",
)
WRITABLE = {*LOGGED_TABLES, "exposures"}
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
log = logging.getLogger("shelfrank.event_log")


class EventLogUnavailableError(RuntimeError):
    """The log cannot take writes now (disk full, read-only, I/O error)."""


def _check_writable(table: str) -> None:
    if table not in WRITABLE:
        raise ValueError(f"table {table!r} is not logged; use one of {sorted(WRITABLE)}")


class EventLog:
    """Appends validated event batches durably (thread-safe, one instance per process)."""

    def __init__(self, root: str | Path, writer: str | None = None) -> None:
        self.root = Path(root)
        self.writer = writer or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def _fd(self, table: str) -> int:
        fd = self._fds.get(table)
        if fd is None:
            folder = self.root / table
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / f"{self.writer}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._fds[table] = fd
        return fd

    def append(self, batch: dict[str, list[dict]]) -> dict[str, int]:
        """Durably append rows per table; return how many were written per table."""
        payloads = {}
        for table, rows in batch.items():
            _check_writable(table)
            if rows:
                payloads[table] = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                                          for r in rows).encode()
        self._write(payloads)
        return {t: len(r) for t, r in batch.items()}

    def append_lines(self, table: str, data: bytes) -> None:
        """Durably append already-serialised JSON lines (one write + fsync)."""
        _check_writable(table)
        self._write({table: data})

    def _write(self, payloads: dict[str, bytes]) -> None:
        """Write every payload whole and fsync its file; a full disk is EventLogUnavailableError."""
        with self._lock:
            try:
                for table, data in payloads.items():
                    fd = self._fd(table)
                    view = memoryview(data)
                    while view:
                        written = os.write(fd, view)
                        view = view[written:]
                    os.fsync(fd)
            except OSError as exc:
                if exc.errno in _DISK_ERRORS:
                    raise EventLogUnavailableError(f"event log at {self.root} cannot be written: "
                                                   f"{os.strerror(exc.errno)}") from exc
                raise

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


@dataclass
class LogReadReport:
    tables: dict[str, pa.Table]
    partial_lines: int
    files: int


def read_event_log(root: str | Path) -> LogReadReport:
    """Every logged table (and the exposures) as contract-conforming Arrow tables.

    Torn last lines (a crash mid-write, never acknowledged) are skipped and counted.
    """
    root = Path(root)
    out: dict[str, pa.Table] = {}
    partial = files = 0
    for table in (*LOGGED_TABLES, "exposures"):
        contract = EXPOSURES if table == "exposures" else TABLES[table]
        rows: list[dict] = []
        for path in sorted((root / table).glob("*.jsonl")) if (root / table).is_dir() else []:
            files += 1
            data = path.read_bytes()
            lines = data.split(b"\n")
            if lines and lines[-1] != b"":
                partial += 1  # torn write, never acknowledged
            for line in lines[:-1]:
                row = json.loads(line)
                cards = row.pop("cards", None)
                if cards is None:
                    rows.append(row)
                else:  # one exposure line per request, its cards as columns
                    names = list(cards)
                    rows.extend({**row, **dict(zip(names, values, strict=True))}
                                for values in zip(*(cards[n] for n in names), strict=True))
        columns = {}
        for col in contract.columns:
            values = [r.get(col.name) for r in rows]
            if pa.types.is_timestamp(col.type):
                columns[col.name] = pa.array(values, pa.int64()).cast(col.type)
            else:
                columns[col.name] = pa.array(values, col.type)
        out[table] = conform(pa.table(columns), contract, f"{root / table}")
    return LogReadReport(out, partial, files)


class BufferedAppender:
    """Collects serialised lines of one table and appends them in batches (one write + fsync).

    For the exposure log, written on every ranking response: a per-request fsync would
    cost milliseconds on the request path. Callers serialise their own line (cheap, spread
    over requests: the service writes one line per request with its cards as columns), so
    a flush is only a write and an fsync, both outside the GIL; serialising tens of
    thousands of rows at flush time held the GIL long enough to put 10+ ms on the p99 of
    every request in flight. Lines are flushed every ``every`` seconds by a background
    thread, when ``max_bytes`` accumulate, and on ``close``; a ``kill -9`` can lose at
    most the last ``every`` seconds of exposures (events posted to ``/v1/events`` stay
    durable per request). A flush that fails keeps its lines for the next attempt, up to
    4 x ``max_bytes``; past that it drops them, counts them (``dropped_lines``) and warns.
    """

    def __init__(self, log: EventLog, table: str, every: float = 0.5, max_bytes: int = 16 << 20) -> None:
        self.log, self.table, self.every, self.max_bytes = log, table, every, max_bytes
        self._chunks: list[bytes] = []
        self._size = 0
        self.dropped_lines = 0  # lines given up while the disk stayed full (bounded memory)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"flush-{table}", daemon=True)
        self._thread.start()

    def add_line(self, line: bytes) -> None:
        """One serialised JSON object ending in a newline."""
        with self._lock:
            self._chunks.append(line)
            self._size += len(line)
            full = self._size >= self.max_bytes
        if full:
            self.flush()

    def flush(self) -> int:
        with self._lock:
            chunks, self._chunks, self._size = self._chunks, [], 0
        if not chunks:
            return 0
        data = b"".join(chunks)
        try:
            self.log.append_lines(self.table, data)
        except Exception:
            with self._lock:
                if self._size + len(data) <= 4 * self.max_bytes:  # bounded while the disk is full
                    self._chunks.insert(0, data)
                    self._size += len(data)
                else:
                    lost = data.count(b"\n")
                    self.dropped_lines += lost
                    log.warning("%s: dropped %d lines (%d so far) after failed flushes: %s",
                                self.table, lost, self.dropped_lines, self.log.root)
            raise
        return data.count(b"\n")  # lines written (a retried chunk holds many)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.flush()
            except Exception:  # disk full: keep the lines, try again next tick
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.flush()
