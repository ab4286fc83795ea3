"""Keep-alive connections spread over a service's workers: each worker's open count in a shared
folder, and a worker above its share closing one connection after its response at a time.

uvicorn's workers accept from one listening socket, and the worker that wakes first takes every
connection then waiting: a client pool opened in one burst (a frontend's pool, wrk's 16
connections) often lands unevenly and stays so (docs/serving.md, "Connections spread over the
workers"). A worker ranks one page at a time (``serving.page_threads``), so the busier worker
queues its connections' pages: the p99 grows with the spread, and when one worker holds them all
the other idles and the service serves one worker's rate. Which worker
accepts cannot be steered from Python, but a single new connection lands on either about evenly;
so a worker holding more than an even share plus ``serving.connection_balance_slack`` (or plus
``serving.connection_balance_tolerance`` of the share, if more: with hundreds of connections the
counts move by chance, and closing for that would only churn) answers one request per connection
above it with ``Connection: close`` (HTTP/1.1's own signal: the response is whole, and the
client sends its next request on a new connection), comparing the counts once per
``serving.connection_balance_seconds``, until they are even.

The counts: each worker writes its open connections (8 bytes) into its own file, named by its pid,
in a folder named by the service's master process and port (``shelfrank-connections-<ppid>-<port>``
under the system's temporary folder), and reads the others' once per interval. A file whose process
is gone is removed and not counted; a worker removes its own at exit. Everything runs on the
worker's event loop (the protocol's callbacks), so there is no lock.
"""

from __future__ import annotations

import atexit
import math
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

_COUNT_BYTES = 8


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: alive, though not ours
        return True
    return True


def shared_folder(port: int, master: int | None = None) -> Path:
    """The folder the workers of the service on ``port`` started by ``master`` (default: this
    process's parent, uvicorn's master for a worker) share."""
    master = os.getppid() if master is None else master
    return Path(tempfile.gettempdir()) / f"shelfrank-connections-{master}-{port}"


class ConnectionShare:
    """One worker's open connections, the other workers' counts, and when to shed one."""

    def __init__(self, folder: Path, interval: float, slack: int, tolerance: float = 0.0,
                 pid: int | None = None, alive: Callable[[int], bool] = _alive,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.folder, self.interval, self.slack, self.tolerance = folder, interval, slack, tolerance
        self.pid = os.getpid() if pid is None else pid
        self.alive, self.clock = alive, clock
        self.open = 0
        self._next = 0.0
        self._budget = 0  # connections still to close this interval
        folder.mkdir(parents=True, exist_ok=True)
        self._file = folder / str(self.pid)
        self._fd: int | None = os.open(self._file, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._write()

    def _write(self) -> None:
        if self._fd is not None:
            os.pwrite(self._fd, self.open.to_bytes(_COUNT_BYTES, "little", signed=True), 0)

    def opened(self) -> None:
        self.open += 1
        self._write()

    def closed(self) -> None:
        self.open -= 1
        self._write()

    def peers(self) -> list[int]:
        """The other live workers' open connections (a gone worker's file removed); none when the
        folder cannot be read (removed under a running service): a request never fails for it."""
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        counts = []
        for entry in entries:
            if entry.name == str(self.pid) or not entry.name.isdigit():
                continue
            if not self.alive(int(entry.name)):
                with suppress(FileNotFoundError):  # another worker removed it meanwhile
                    os.unlink(entry.path)
                continue
            with suppress(OSError):  # another worker removed it meanwhile
                data = Path(entry.path).read_bytes()
                if len(data) == _COUNT_BYTES:
                    counts.append(max(0, int.from_bytes(data, "little", signed=True)))
        return counts

    def should_shed(self) -> bool:
        """Whether the request just read should close its connection after the response. Once per
        interval the counts are compared: the connections this worker holds above an even share
        plus the slack are the interval's budget, spent one request at a time (a connection closed
        lands on any worker, so about half come back: the budget is spent again next interval)."""
        now = self.clock()
        if now >= self._next:
            self._next = now + self.interval
            others = self.peers()
            even = math.ceil((self.open + sum(others)) / (len(others) + 1))
            above = max(self.slack, math.ceil(self.tolerance * even))
            self._budget = max(0, self.open - even - above) if others else 0
        if self._budget <= 0:
            return False
        self._budget -= 1
        return True

    def close(self) -> None:
        """Remove this worker's file (at exit), and the folder once no worker's file is left."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        with suppress(FileNotFoundError):  # another worker removed it meanwhile
            os.unlink(self._file)
        with suppress(OSError):  # another worker's file is still there
            self.folder.rmdir()


SHARE: ConnectionShare | None = None  # this worker's, once :func:`start` ran


def remove_orphans(alive: Callable[[int], bool] = _alive) -> int:
    """Remove the folders of services whose master process is gone (a killed service leaves its
    workers' files); the number removed."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob("shelfrank-connections-*-*"):
        master = folder.name.split("-")[2]
        if not master.isdigit() or alive(int(master)):
            continue
        for file in folder.glob("*"):
            with suppress(FileNotFoundError):
                file.unlink()
        with suppress(OSError):
            folder.rmdir()
            removed += 1
    return removed


def start(port: int, interval: float, slack: int, tolerance: float) -> ConnectionShare:
    """This worker's share, kept for the protocol (:mod:`serving.protocol`) and removed at exit
    (the folders killed services left removed first)."""
    global SHARE
    remove_orphans()
    if SHARE is not None:
        SHARE.close()
    SHARE = ConnectionShare(shared_folder(port), interval, slack, tolerance)
    atexit.register(SHARE.close)
    return SHARE
