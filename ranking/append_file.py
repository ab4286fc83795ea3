"""One append-only JSON-lines file of the event log that never shows a reader a torn line.

:class:`AppendOnlyFile` owns one ``<events_dir>/<table>/<writer>.jsonl`` of one writer process:

* **Whole lines or nothing.** Before a write it notes the file's size; a write or ``fsync``
  that fails (a full disk that took part of the bytes, an I/O error) truncates the file back
  to that size, so the next batch starts on a clean line (issue 24: the next batch used to
  be appended onto the torn line, and merge-events died on it).
* **A torn tail is repaired on open.** A crash mid-write (``kill -9``, power loss, a failed
  truncation) can leave a last line with no newline: it was never acknowledged. Opening the
  file cuts it off, keeps its bytes aside in ``<writer>.jsonl.torn`` (which the reader never
  reads) and logs an error.
* **A free-space watermark.** With less than ``min_free_bytes`` left on the file system
  after the write, the write is refused (:class:`EventLogUnavailableError`) before the disk is
  full, so the service answers 503 while the files are still whole.
* **Rotation and deletion are noticed.** Before each write the path is compared with the
  open descriptor (device, inode). A file moved away (``mv``, logrotate) is left to its new
  owner and writing goes on in a new file at the path; a file deleted (``rm``) is recreated
  and the loss is logged as an error and counted (``incidents``): the events acknowledged
  into the deleted file are gone with it, and nothing after them goes to an unlinked inode.
"""

from __future__ import annotations

import errno
import logging
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("shelfrank.event_log")
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
TORN_SUFFIX = ".torn"
_TAIL_CHUNK = 1 << 16


class EventLogUnavailableError(RuntimeError):
    """The log cannot take writes now (disk full or nearly, read-only, I/O error)."""


class AppendOnlyFile:
    """One writer's append-only file (not thread-safe: :class:`ranking.event_log.EventLog`
    holds the lock). ``incidents`` counts what happened to it by kind (``torn_tail``,
    ``rotated``, ``deleted``, ``rolled_back``); ``on_incident`` is told each one (a metric)."""

    def __init__(self, path: Path, min_free_bytes: int = 0,
                 on_incident: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.min_free_bytes = min_free_bytes
        self.on_incident = on_incident
        self.incidents: Counter[str] = Counter()
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None

    # -- opening ------------------------------------------------------------------------------
    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repair_torn_tail()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        st = os.fstat(fd)
        self._fd, self._identity = fd, (st.st_dev, st.st_ino)
        return fd

    def repair_torn_tail(self) -> int:
        """Cut a last line without its newline off the file, keep its bytes in the quarantine
        file beside it and log it; return how many bytes were cut (0: the file was whole)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        if size == 0:
            return 0
        with open(self.path, "r+b") as f:
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return 0
            cut = _start_of_last_line(f, size)
            f.seek(cut)
            torn = f.read()
            quarantine = self.path.with_name(self.path.name + TORN_SUFFIX)
            with open(quarantine, "ab") as q:
                q.write(torn + b"\n")
                q.flush()
                os.fsync(q.fileno())
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
        self._incident("torn_tail")
        log.error("%s: a torn last line of %d bytes (a crash or failed write mid-line; never "
                  "acknowledged) was cut off and kept in %s", self.path, size - cut, quarantine)
        return size - cut

    def _current_fd(self) -> int:
        """The descriptor to write to: reopened by path when the file was moved away or deleted."""
        if self._fd is None:
            return self._open()
        try:
            st = os.stat(self.path)
            here: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            here = None
        if here == self._identity:
            return self._fd
        if os.fstat(self._fd).st_nlink == 0:
            self._incident("deleted")
            log.error("%s was deleted while this writer had it open: the events acknowledged into "
                      "it are gone unless someone copied the file first; writing goes on in a new "
                      "file at the same path", self.path)
        else:
            self._incident("rotated")
            log.warning("%s was moved away (rotated); writing goes on in a new file at the path",
                        self.path)
        self.close()
        return self._open()

    # -- writing ------------------------------------------------------------------------------
    def size(self) -> int:
        """The current size of the file this writer appends to (after any reopen)."""
        return os.fstat(self._current_fd()).st_size

    def write(self, data: bytes) -> None:
        """Append ``data`` whole and ``fsync`` it; on failure truncate back and re-raise."""
        fd = self._current_fd()
        self._check_free_space(len(data))
        before = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            self.truncate_to(before)
            raise

    def truncate_to(self, size: int) -> None:
        """Undo an unacknowledged write: the file back to ``size`` bytes. When even that fails,
        the descriptor is dropped and the next open repairs the torn tail."""
        if self._fd is None:
            return
        try:
            if os.fstat(self._fd).st_size == size:
                return  # nothing of the write reached the file
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)
            self._incident("rolled_back")
        except OSError as exc:
            log.error("%s: could not truncate an unacknowledged write back to %d bytes (%s); the "
                      "torn tail is repaired when the file is next opened", self.path, size, exc)
            self.close()

    def _check_free_space(self, incoming: int) -> None:
        if not self.min_free_bytes:
            return
        st = os.statvfs(self.path.parent)
        free = st.f_bavail * st.f_frsize
        if free - incoming < self.min_free_bytes:
            raise EventLogUnavailableError(
                f"{self.path.parent}: {free / 2**20:.0f} MB free, below the "
                f"{self.min_free_bytes / 2**20:.0f} MB watermark (serving.events_min_free_mb): "
                "writes refused before the disk fills")

    def _incident(self, kind: str) -> None:
        self.incidents[kind] += 1
        if self.on_incident is not None:
            self.on_incident(kind)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._identity = None


def _start_of_last_line(f, size: int) -> int:
    """The offset just after the last newline of an open file (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        f.seek(start)
        at = f.read(end - start).rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0
