"""The durable event log: what the service acknowledges, training can read back.

Layout: ``<events_dir>/<table>/<writer>.jsonl`` — one append-only file per table and
writer process (so several service workers never interleave), one JSON object per line
in the table's contract shape, timestamps as UTC epoch milliseconds. ``append`` writes a
whole batch with one ``write`` per table on an ``O_APPEND`` descriptor and ``fsync``s it
before returning: once it returns, the events survive ``kill -9`` and power loss of the
process. Each event line of ``append`` also carries who sent it and when the service got
it (``_client``, ``_received_ms``: keys the contracts do not name, so training ignores them
and ``merge-events`` reads them to flag bursts; docs/data.md).

The files never tear (:mod:`ranking.append_file`): a failed or short write is truncated
back (a batch over several tables is undone in every table), a torn tail left by a crash
is cut off and quarantined when the file is opened, a nearly full disk is refused before
it is full, and a file moved away or deleted is reopened by path (a deletion logged as
the loss it is). A full, nearly full or read-only disk raises
:class:`EventLogUnavailableError` (the service answers 503) and leaves the files as they were.

:func:`read_event_log` (:mod:`ranking.event_reader`) reads it back, naming the file and
line of any bad record.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ranking.append_file import DISK_ERRORS, AppendOnlyFile, EventLogUnavailableError
from ranking.event_tables import CLIENT_KEY, EXPOSURES, LOGGED_TABLES, RECEIVED_KEY, WRITABLE

if TYPE_CHECKING:
    from ranking.event_reader import LogReadReport

log = logging.getLogger("shelfrank.event_log")
__all__ = ["CLIENT_KEY", "EXPOSURES", "LOGGED_TABLES", "RECEIVED_KEY", "WRITABLE", "BufferedAppender",
           "EventLog", "EventLogUnavailableError", "read_event_log"]


def _check_writable(table: str) -> None:
    if table not in WRITABLE:
        raise ValueError(f"table {table!r} is not logged; use one of {sorted(WRITABLE)}")


class EventLog:
    """Appends validated event batches durably (thread-safe, one instance per process).

    ``min_free_mb`` is the free-space watermark (``serving.events_min_free_mb``);
    ``on_incident`` is told each torn tail repaired, file rotated or deleted and write rolled
    back (the service counts them as a metric); :attr:`incidents` sums them.
    """

    def __init__(self, root: str | Path, writer: str | None = None, min_free_mb: float = 0,
                 on_incident: Callable[[str], None] | None = None) -> None:
        self.root = Path(root)
        self.writer = writer or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.min_free_bytes = int(min_free_mb * 2**20)
        self.on_incident = on_incident
        self._files: dict[str, AppendOnlyFile] = {}
        self._lock = threading.Lock()

    def _file(self, table: str) -> AppendOnlyFile:
        f = self._files.get(table)
        if f is None:
            f = AppendOnlyFile(self.root / table / f"{self.writer}.jsonl", self.min_free_bytes,
                               self.on_incident)
            self._files[table] = f
        return f

    @property
    def incidents(self) -> Counter[str]:
        """Torn tails repaired, files rotated or deleted, writes rolled back, over every table."""
        return sum((f.incidents for f in self._files.values()), Counter())

    def append(self, batch: dict[str, list[dict]], client: str | None = None) -> dict[str, int]:
        """Durably append rows per table, each line marked with ``client`` (who sent the batch;
        None until the service authenticates its callers) and the time it arrived; return
        how many were written per table."""
        payloads = {}
        origin = {CLIENT_KEY: client, RECEIVED_KEY: int(time.time() * 1000)}
        for table, rows in batch.items():
            _check_writable(table)
            if rows:
                payloads[table] = "".join(json.dumps({**r, **origin}, ensure_ascii=False,
                                                     separators=(",", ":")) + "\n"
                                          for r in rows).encode()
        self._write(payloads)
        return {t: len(r) for t, r in batch.items()}

    def append_lines(self, table: str, data: bytes) -> None:
        """Durably append already-serialised JSON lines (one write + fsync)."""
        _check_writable(table)
        self._write({table: data})

    def _write(self, payloads: dict[str, bytes]) -> None:
        """Write every payload whole and fsync its file, or none of them: a failure truncates
        every file of the batch back; a full disk is EventLogUnavailableError."""
        with self._lock:
            before: dict[str, int] = {}
            try:
                for table, data in payloads.items():
                    f = self._file(table)
                    before[table] = f.size()
                    f.write(data)
            except (OSError, EventLogUnavailableError) as exc:
                for table, size in before.items():  # the tables already written: not acknowledged
                    self._files[table].truncate_to(size)
                if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
                    raise EventLogUnavailableError(f"event log at {self.root} cannot be written: "
                                                   f"{os.strerror(exc.errno)}") from exc
                raise

    def close(self) -> None:
        with self._lock:
            for f in self._files.values():
                f.close()
            self._files.clear()


def read_event_log(root: str | Path, skip_bad: bool = False) -> LogReadReport:
    """Every logged table as contract-conforming Arrow tables, per file what was read; a bad
    line raises :class:`ranking.event_reader.BadEventLinesError` naming ``file:line`` unless
    ``skip_bad`` (:func:`ranking.event_reader.read_log`)."""
    from ranking.event_reader import read_log

    return read_log(root, skip_bad)


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
