"""Following the durable event log: the complete lines every writer appended since the last look.

:class:`LogTail` watches ``<events_dir>/<table>/*.jsonl`` (:mod:`ranking.event_log`: one
file per table and writer process) for the tables the live state takes. Each
:meth:`LogTail.poll` returns, per table, the rows of the lines appended since the previous
poll, from every writer, new files included. It keeps an open descriptor and an offset per
path, so:

* **torn tails** — only complete lines (ending in a newline) are parsed; the offset stays
  at the start of a last line still being written, which the next poll reads whole. A
  writer that cut a torn tail off on restart (:mod:`ranking.append_file`) wrote its next
  lines from that same offset, so they are read and the torn bytes never are;
* **rotation** — a file moved away (a new inode at the path) is read to its end through the
  old descriptor, then the new file at the path is read from its start;
* **bad lines** — a line that is not a JSON object is counted (``bad_lines``) and logged
  with its file, never applied.

Exposure lines (one request, its cards as columns) come back as one impression row per card,
carrying only the line's :data:`EXPOSURE_FIELDS` (what the live state, the first-showing check
and the channel's counts read; the line stays whole in the log): a line's variant, latency,
queries' text and logged live features copied into each of its 20 cards' rows made the rows
twice as wide and turning them into columns three times slower, in bursts of ~1,000 rows every
``serving.exposure_flush_seconds`` that held the GIL for milliseconds while a page waited.
:meth:`LogTail.poll_columns` gives the same rows as columns (:mod:`ranking.live.row_columns`),
an exposure line's cards added without a dict per card: both backends' tails read that (the Redis
backend's applier makes dicts again of only the few catalog and merchandising rows it forwards);
:meth:`LogTail.poll`'s dicts are the catalog's and merchandising's followers'.
Lines are parsed with orjson (three times faster here than the standard library), and with
:mod:`json` when orjson refuses one (a NaN, an integer past 64 bits): what was read before still is.
The first poll reads every file from its start: that is the replay a worker does at start.
:meth:`LogTail.positions` exports where each file was read to (path under the root, inode,
offset) and :meth:`LogTail.resume` starts a new tail from such positions (the Redis backend
keeps them in Redis, so a new applier goes on where the last one stopped): a file whose inode
changed, or that is now shorter than its offset, is a different file and is read from its start.

**An idle poll** (~10 a second per follower: the live tail, the catalog's, the merchandising's)
costs one ``stat`` of each table's folder and one ``fstat`` of each followed file: a folder's
names are listed again (``scandir``, and each listed path ``stat``-ed for the identity check)
only when the folder's (device, inode, mtime) differs from the last listing's. Adding, removing,
renaming or replacing a file in a folder sets its mtime; an append does not, and is seen by the
file's ``fstat``. The mtime is read from a coarse clock (a tick of a few milliseconds, or seconds
on some file systems), so two changes within one tick can leave the same mtime: a listing whose
mtime was not at least :data:`SETTLED_NS` older than the clock when it was taken is not trusted
(the next poll lists the folder again), so any later change is stamped with a later mtime. As a
last guard (a wall clock stepped back), every folder is listed again each :data:`RELIST_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ranking.live.row_columns import RowColumns

log = logging.getLogger("shelfrank.live")
TAILED_TABLES = ("impressions", "clicks", "carts", "orders", "exposures")
READ_CHUNK = 1 << 22
PAUSE_LINES = 32  # a poll given a ``pause`` calls it after each this many lines parsed
# the fields of an exposure line its cards' impression rows carry (see the module docstring)
EXPOSURE_FIELDS = ("request_id", "timestamp", "user_id", "session_id", "query_id", "surface", "channel")
# a folder's listing is trusted until its mtime changes only when that mtime was this much older
# than the clock before the listing (the mtime's tick, and a file system's coarser stamps, well past)
SETTLED_NS = 2_000_000_000
RELIST_SECONDS = 30.0  # every folder listed again this often all the same (module docstring)


def _logs_in(folder: Path) -> list[Path]:
    """The ``*.jsonl`` files of a table's folder, by name (none when there is no folder): one
    ``scandir``, where ``is_dir`` and ``glob`` cost a poll several hundred microseconds."""
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".jsonl"))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [folder / name for name in names]


def _parsed(raw: bytes) -> object:
    """One line's JSON value: orjson's, or the standard library's for what orjson refuses."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


@dataclass
class _Followed:
    """One file being followed: its descriptor, identity and the end of its last complete line read."""

    path: Path
    fd: int
    identity: tuple[int, int]
    offset: int = 0  # just after the last complete line read


@dataclass
class _Listing:
    """A table folder's files as last listed; ``stamp`` its (device, inode, mtime in ns) then, or
    None when that mtime was too recent to vouch for the names (list again next poll)."""

    stamp: tuple[int, int, int] | None
    paths: list[Path]
    until: float  # time.monotonic(): listed again after this all the same


@dataclass
class LogTail:
    """New complete lines of every writer's files under ``root`` (see the module docstring)."""

    root: Path
    tables: tuple[str, ...] = TAILED_TABLES
    bad_lines: int = 0
    lines_read: int = 0
    _files: dict[Path, _Followed] = field(default_factory=dict)
    _listings: dict[str, _Listing] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self._folders = {table: self.root / table for table in self.tables}

    def _chunks(self, pause: Callable[[], None] | None) -> Iterator[tuple[str, Path, list[bytes]]]:
        """(table, file, up to :data:`PAUSE_LINES` of its new lines) for every line appended since
        the last poll, in the tables' and files' order; ``pause`` (the live tail's: give the GIL back
        a moment) is called between a file's chunks, so a burst of lines is not one long hold of
        the GIL."""
        now_ns = time.time_ns()
        for table in self.tables:
            paths, same_names = self._listed(table, now_ns)
            for path in paths:
                f = self._files.get(path) if same_names else None
                lines = self._read(f) if f is not None else self._new_lines(path)
                for k in range(0, len(lines), PAUSE_LINES):
                    if k and pause is not None:
                        pause()
                    yield table, path, lines[k:k + PAUSE_LINES]

    def poll(self, pause: Callable[[], None] | None = None) -> dict[str, list[dict]]:
        """Rows of the lines appended since the last poll, per table (exposures as impressions),
        ``pause`` as :meth:`_chunks` calls it."""
        out: dict[str, list[dict]] = {t: [] for t in self.tables if t != "exposures"}
        for table, path, chunk in self._chunks(pause):
            exposure = table == "exposures"
            target = out["impressions"] if exposure else out[table]
            for raw in chunk:
                target.extend(self._rows(raw, path, exposure))
        return out

    def poll_columns(self, pause: Callable[[], None] | None = None) -> dict[str, RowColumns]:
        """:meth:`poll`'s rows as columns (:mod:`ranking.live.row_columns`): the same rows in the
        same order, an exposure line's cards added as columns instead of a dict per card."""
        out = {t: RowColumns() for t in self.tables if t != "exposures"}
        for table, path, chunk in self._chunks(pause):
            if table == "exposures":
                for raw in chunk:
                    self._add_cards(raw, path, out["impressions"])
            else:
                out[table].add_rows([row for raw in chunk for row in self._rows(raw, path, False)])
        return out

    def _add_cards(self, raw: bytes, path: Path, target: RowColumns) -> None:
        """An exposure line's cards added to ``target`` (:meth:`_rows`' rows, as columns)."""
        self.lines_read += 1
        try:
            row = _parsed(raw)
            if not isinstance(row, dict):
                raise ValueError(f"a JSON {type(row).__name__}, not an object")
            cards = row["cards"]
            shared = {k: row[k] for k in EXPOSURE_FIELDS if k in row}
            products, positions = cards["product_id"], cards["position"]
            if type(products) is not list or type(positions) is not list:  # what zip reads of them
                pairs = list(zip(products, positions, strict=True))
                products, positions = [p for p, _ in pairs], [q for _, q in pairs]
            elif len(products) != len(positions):
                raise ValueError(f"{len(products)} cards' product ids, {len(positions)} positions")
        except (ValueError, TypeError, KeyError) as exc:
            self.bad_lines += 1
            log.error("%s: a line the live state cannot read (%s); not applied", path, exc)
            return
        target.add_cards(shared, products, positions)

    def _listed(self, table: str, now_ns: int) -> tuple[list[Path], bool]:
        """(the table folder's files, whether its names are those of the last listing: no file
        added, removed or replaced since, so each followed file is the one at its path)."""
        folder = self._folders[table]
        try:
            st = os.stat(folder)  # before the listing: a change during it moves the mtime on
        except (FileNotFoundError, NotADirectoryError):
            self._listings.pop(table, None)
            return [], False
        stamp = (st.st_dev, st.st_ino, st.st_mtime_ns)
        kept = self._listings.get(table)
        if kept is not None and kept.stamp == stamp and time.monotonic() < kept.until:
            return kept.paths, True
        paths = _logs_in(folder)
        settled = st.st_mtime_ns < now_ns - SETTLED_NS
        self._listings[table] = _Listing(stamp if settled else None, paths, time.monotonic() + RELIST_SECONDS)
        return paths, False

    def _new_lines(self, path: Path) -> list[bytes]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return []
        f = self._files.get(path)
        lines: list[bytes] = []
        if f is not None and f.identity != (st.st_dev, st.st_ino):  # rotated: finish the old file
            lines += self._read(f)
            os.close(f.fd)
            f = None
        if f is None:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return lines
            ident = os.fstat(fd)
            f = self._files[path] = _Followed(path, fd, (ident.st_dev, ident.st_ino))
        return lines + self._read(f)

    def _read(self, f: _Followed) -> list[bytes]:
        """Complete lines from the offset on; the offset stops after the last newline, so an
        unfinished line is read again whole next time (or replaced, when its writer cut it)."""
        size = os.fstat(f.fd).st_size
        if size == f.offset:
            return []
        if size < f.offset:  # shorter than what was read whole: only a truncation by hand does this
            log.error("%s: shorter (%d bytes) than the complete lines already applied (%d); following "
                      "it from its end", f.path, size, f.offset)
            f.offset = size
        chunks = []
        at = f.offset
        while at < size:
            data = os.pread(f.fd, min(READ_CHUNK, size - at), at)
            if not data:
                break
            at += len(data)
            chunks.append(data)
        buffer = b"".join(chunks)
        end = buffer.rfind(b"\n") + 1
        f.offset += end
        return buffer[:end].splitlines()

    def _rows(self, raw: bytes, path: Path, exposure: bool) -> list[dict]:
        self.lines_read += 1
        try:
            row = _parsed(raw)
            if not isinstance(row, dict):
                raise ValueError(f"a JSON {type(row).__name__}, not an object")
            if not exposure:
                return [row]
            cards = row["cards"]
            shared = {k: row[k] for k in EXPOSURE_FIELDS if k in row}
            return [{**shared, "product_id": p, "position": pos}
                    for p, pos in zip(cards["product_id"], cards["position"], strict=True)]
        except (ValueError, TypeError, KeyError) as exc:
            self.bad_lines += 1
            log.error("%s: a line the live state cannot read (%s); not applied", path, exc)
            return []

    def positions(self) -> dict[str, tuple[int, int]]:
        """Where each followed file was read to: its path under the root -> (inode, offset)."""
        return {f.path.relative_to(self.root).as_posix(): (f.identity[1], f.offset)
                for f in self._files.values()}

    def resume(self, positions: dict[str, tuple[int, int]]) -> int:
        """Follow the files of ``positions`` from their offsets (a fresh tail only); a path whose
        inode differs or that is shorter than its offset is left to be read from its start.
        Return how many files were resumed."""
        resumed = 0
        for name, (inode, offset) in positions.items():
            path = self.root / name
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            st = os.fstat(fd)
            if st.st_ino != inode or st.st_size < offset or path in self._files:
                log.warning("%s: not the file read before (inode %d, %d bytes, was %d up to %d); read from "
                            "its start", path, st.st_ino, st.st_size, inode, offset)
                os.close(fd)
                continue
            self._files[path] = _Followed(path, fd, (st.st_dev, st.st_ino), offset)
            resumed += 1
        return resumed

    def close(self) -> None:
        for f in self._files.values():
            os.close(f.fd)
        self._files.clear()
        self._listings.clear()
