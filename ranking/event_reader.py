"""Reading the event log back: every file's rows, and every bad record named by file and line.

:func:`read_log` reads ``<events_dir>/<table>/*.jsonl`` (:mod:`ranking.event_log`) into
contract-conforming Arrow tables and says per file what it read (:class:`FileRead`). It
skips nothing silently:

* a line that is not a JSON object, or whose values do not fit the contract (a wrong type, a
  missing required value, a value outside the allowed ones or the bounds) is a
  :class:`BadLine` naming ``file:line`` and the error. By default any bad line raises
  :class:`BadEventLinesError` listing them all; with ``skip_bad`` they are left out and listed
  in :attr:`LogReadReport.skipped` (an exposure line is one request: all its cards go).
* an event of an anonymous shopper (a ``session_id`` and no ``user_id``: the live state
  follows it, training has no user to give it) is left out of the tables and counted per file
  (``anonymous``), not read as a bad line. Old logs, written before ``session_id``, read as before.
* a last line without its newline is a torn tail: a file still being written, or a crash
  the writer has not yet repaired (it cuts and quarantines such a tail when it reopens the
  file). It was never acknowledged; it is reported per file (``torn_tail_bytes``), not read.

Each event line's origin (``_client``, ``_received_ms``: who sent it, when the service got it)
is returned beside the tables (:attr:`LogReadReport.origins`, row for row) for
``merge-events``' poisoning flags; training never sees it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ranking.contracts.io import conform
from ranking.contracts.tables import TABLES, Column
from ranking.event_tables import CLIENT_KEY, EXPOSURES, LOGGED_TABLES, RECEIVED_KEY

SHOWN_BAD = 20  # bad lines an error message lists before "... and N more"
_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError)


@dataclass(frozen=True)
class BadLine:
    """One record the reader could not use: where (file and 1-based line) and why."""

    path: Path
    line: int
    error: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.error}"


@dataclass
class FileRead:
    """What was read from one file: its lines (good and bad), the bad ones, a torn tail."""

    path: Path
    table: str
    lines: int = 0
    bad: int = 0
    torn_tail_bytes: int = 0
    anonymous: int = 0  # events naming only a session (left out of the training tables)

    def describe(self) -> str:
        torn = (f"; a torn last line of {self.torn_tail_bytes} bytes not read (being written, or a "
                "crash: never acknowledged)" if self.torn_tail_bytes else "")
        anonymous = (f", {self.anonymous:,} anonymous (session only, not in the tables)"
                     if self.anonymous else "")
        return f"{self.path}: {self.lines:,} line(s), {self.bad:,} bad{anonymous}{torn}"


class BadEventLinesError(ValueError):
    """The log holds records that cannot be read; the message names each ``file:line``."""

    def __init__(self, bad: list[BadLine]) -> None:
        self.bad = bad
        shown = "\n  ".join(str(b) for b in bad[:SHOWN_BAD])
        more = f"\n  ... and {len(bad) - SHOWN_BAD:,} more" if len(bad) > SHOWN_BAD else ""
        super().__init__(f"{len(bad):,} bad line(s) in the event log:\n  {shown}{more}")


@dataclass
class LogReadReport:
    tables: dict[str, pa.Table]
    files: list[FileRead] = field(default_factory=list)
    skipped: list[BadLine] = field(default_factory=list)
    origins: dict[str, pa.Table] = field(default_factory=dict)  # per logged table: client, received_ms

    @property
    def partial_lines(self) -> int:
        """Files whose last line is torn (never acknowledged, not read)."""
        return sum(1 for f in self.files if f.torn_tail_bytes)


@dataclass
class _Rows:
    """A table's parsed rows, each with the position of its line in ``lines``."""

    rows: list[dict] = field(default_factory=list)
    line_of_row: list[int] = field(default_factory=list)
    lines: list[tuple[Path, int]] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)  # line position -> error


def read_log(root: str | Path, skip_bad: bool = False) -> LogReadReport:
    """Every logged table (and the exposures) of the log at ``root`` (see the module docstring)."""
    root = Path(root)
    report = LogReadReport({})
    bad: list[BadLine] = []
    for table in (*LOGGED_TABLES, "exposures"):
        contract = EXPOSURES if table == "exposures" else TABLES[table]
        parsed = _Rows()
        folder = root / table
        for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
            report.files.append(_read_file(path, table, parsed))
        columns = {col.name: _column(parsed, col) for col in contract.columns}
        keep = np.array([line not in parsed.bad for line in parsed.line_of_row], dtype=bool)
        for at, error in sorted(parsed.bad.items()):
            path, line = parsed.lines[at]
            bad.append(BadLine(path, line, error))
            next(f for f in report.files if f.path == path).bad += 1
        mask = pa.array(keep, pa.bool_())
        report.tables[table] = conform(pa.table(columns).filter(mask), contract, f"{folder}")
        if table != "exposures":
            report.origins[table] = _origins(parsed.rows).filter(mask)
    if bad and not skip_bad:
        raise BadEventLinesError(bad)
    report.skipped = bad
    return report


def _read_file(path: Path, table: str, parsed: _Rows) -> FileRead:
    read = FileRead(path, table)
    lines = path.read_bytes().split(b"\n")
    if lines[-1] != b"":
        read.torn_tail_bytes = len(lines[-1])
    for number, raw in enumerate(lines[:-1], start=1):
        read.lines += 1
        at = len(parsed.lines)
        parsed.lines.append((path, number))
        try:
            row = json.loads(raw)
            if not isinstance(row, dict):
                raise ValueError(f"a JSON {type(row).__name__}, not an object")
            rows = _exploded(row)
        except (ValueError, TypeError, AttributeError) as exc:
            parsed.bad[at] = f"not an event record ({exc})"
            continue
        if table != "exposures" and row.get("user_id") is None and row.get("session_id"):
            read.anonymous += 1
            continue
        parsed.rows.extend(rows)
        parsed.line_of_row.extend([at] * len(rows))
    return read


def _exploded(row: dict) -> list[dict]:
    """An exposure line is one request with its cards as columns: one row per card."""
    cards = row.pop("cards", None)
    if cards is None:
        return [row]
    names = list(cards)
    return [{**row, **dict(zip(names, values, strict=True))}
            for values in zip(*(cards[n] for n in names), strict=True)]


def _column(parsed: _Rows, col: Column) -> pa.Array:
    """One contract column of the parsed rows; rows whose value does not fit it are marked bad
    (and nulled here, so the column can still be built)."""
    storage = pa.int64() if pa.types.is_timestamp(col.type) else col.type
    values = [r.get(col.name) for r in parsed.rows]
    try:
        arr = pa.array(values, storage)
    except _CONVERSION_ERRORS:
        for i, v in enumerate(values):
            try:
                pa.array([v], storage)
            except _CONVERSION_ERRORS:
                _mark(parsed, i, f"{col.name}: {str(v)[:40]!r} is not {col.type}")
                values[i] = None
        arr = pa.array(values, storage)
    _mark_out_of_contract(parsed, arr, col)
    return arr.cast(col.type) if storage is not col.type else arr


def _mark_out_of_contract(parsed: _Rows, arr: pa.Array, col: Column) -> None:
    checks = []
    if not col.nullable:
        checks.append((pc.is_null(arr), "missing (required)"))
    if col.allowed:
        checks.append((pc.invert(pc.is_in(arr, pa.array(col.allowed))), f"not one of {list(col.allowed)}"))
    if col.min is not None:
        checks.append((pc.less(arr, pa.scalar(col.min).cast(arr.type)), f"below {col.min}"))
    if col.max is not None:
        checks.append((pc.greater(arr, pa.scalar(col.max).cast(arr.type)), f"above {col.max}"))
    for broken, why in checks:
        rows = np.flatnonzero(pc.fill_null(broken, False).to_numpy(zero_copy_only=False))
        for i in rows.tolist():
            _mark(parsed, i, f"{col.name}: {why}")


def _mark(parsed: _Rows, row: int, error: str) -> None:
    parsed.bad.setdefault(parsed.line_of_row[row], error)


def _origins(rows: list[dict]) -> pa.Table:
    clients = [r.get(CLIENT_KEY) for r in rows]
    received = [r.get(RECEIVED_KEY) for r in rows]
    return pa.table({"client": pa.array([None if c is None else str(c) for c in clients], pa.string()),
                     "received_ms": pa.array([v if isinstance(v, int) and not isinstance(v, bool)
                                              else None for v in received], pa.int64())})

