"""Keep-alive connections spread over the workers (``serving/connection_balance.py``): the shared
counts, the budget a worker over its share closes, and real servers shedding to an even spread."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from bench.connection_spread import worker_connections
from serving import connection_balance
from serving.connection_balance import ConnectionShare, remove_orphans, shared_folder
from shelfrank.local_service import start_service, stop_service


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _pair(folder: Path, a: int, b: int, slack: int = 1, live: set[int] | None = None, tolerance: float = 0.1
          ) -> tuple[ConnectionShare, ConnectionShare, Clock]:
    clock, live = Clock(), {1001, 1002} if live is None else live
    one = ConnectionShare(folder, 0.1, slack, tolerance, pid=1001, alive=live.__contains__, clock=clock)
    two = ConnectionShare(folder, 0.1, slack, tolerance, pid=1002, alive=live.__contains__, clock=clock)
    for share, n in ((one, a), (two, b)):
        for _ in range(n):
            share.opened()
    return one, two, clock


def _sheds(share: ConnectionShare, requests: int = 50) -> int:
    return sum(share.should_shed() for _ in range(requests))


def test_each_worker_reads_the_others_open_connections(tmp_path: Path) -> None:
    one, two, _ = _pair(tmp_path, 3, 5)
    assert one.peers() == [5] and two.peers() == [3]
    two.closed()
    assert one.peers() == [4]


def test_a_worker_over_its_share_closes_the_excess_once_per_interval_and_none_below(tmp_path: Path) -> None:
    one, two, clock = _pair(tmp_path, 14, 2)
    assert _sheds(one) == 14 - 8 - 1  # above an even 8 plus the slack of 1
    assert _sheds(two) == 0
    assert _sheds(one) == 0, "the budget is spent until the next comparison"
    for _ in range(3):  # three closed: two came back to this worker, one went to the other
        one.closed()
    one.opened(), one.opened(), two.opened()
    clock.now += 0.05
    assert _sheds(one) == 0, "compared at most once per interval"
    clock.now += 0.05
    assert _sheds(one) == 13 - 8 - 1


def test_an_even_spread_within_the_slack_closes_nothing(tmp_path: Path) -> None:
    one, two, _ = _pair(tmp_path, 9, 7)
    assert _sheds(one) == 0 and _sheds(two) == 0
    three, _, _ = _pair(tmp_path / "strict", 9, 7, slack=0, tolerance=0.0)
    assert _sheds(three) == 1


def test_with_many_connections_a_share_within_the_tolerance_closes_nothing(tmp_path: Path) -> None:
    """Hundreds of connections: an even 500, so up to 550 (a tenth above) is left alone."""
    one, _, _ = _pair(tmp_path, 550, 450)
    assert _sheds(one, 200) == 0
    three, _, _ = _pair(tmp_path / "more", 580, 420)
    assert _sheds(three, 200) == 580 - 500 - 50


def test_beside_a_gone_worker_none_is_closed_and_its_file_is_removed(tmp_path: Path) -> None:
    one, _, _ = _pair(tmp_path, 12, 0, live={1001})
    assert (tmp_path / "1002").exists()
    assert one.peers() == [] and not (tmp_path / "1002").exists()
    assert _sheds(one) == 0


def test_a_folder_removed_under_a_running_worker_closes_nothing_and_raises_nothing(tmp_path: Path) -> None:
    one, _, _ = _pair(tmp_path / "gone", 14, 2)
    for file in (tmp_path / "gone").iterdir():
        file.unlink()
    (tmp_path / "gone").rmdir()
    assert _sheds(one) == 0
    one.opened()  # its own file was unlinked: writing to it still works


def test_closing_removes_the_file_and_the_last_one_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    one, two, _ = _pair(folder, 1, 1)
    one.close()
    assert not (folder / "1001").exists() and folder.exists()
    two.close()
    assert not folder.exists()


def test_a_killed_services_folder_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection_balance.tempfile, "gettempdir", lambda: str(tmp_path))
    dead, live = shared_folder(8000, master=4242), shared_folder(8001, master=os.getpid())
    for folder in (dead, live):
        folder.mkdir()
        (folder / "4243").write_bytes(b"\0" * 8)
    assert remove_orphans(alive=lambda pid: pid != 4242) == 1
    assert not dead.exists() and live.exists()


def _get(conn: http.client.HTTPConnection) -> bool:
    """One request on ``conn``; whether the server asked to close the connection (200 either way)."""
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return response.getheader("connection", "").lower() == "close"


def _count(folder: Path, pid: int) -> int:
    return int.from_bytes((folder / str(pid)).read_bytes(), "little", signed=True)


def test_a_real_worker_over_its_share_closes_down_to_it_and_loses_no_request(small_models: Path,
                                                                           tmp_path: Path) -> None:
    """One real worker (its master is this test's process) beside a peer file holding none: of 10
    connections it closes (``Connection: close`` on a whole 200) down to 3, above an even 2 by the
    slack, and none once the peer holds 3 too."""
    proc, url = start_service(small_models, tmp_path / "events",
                              extra=["serving.connection_balance_seconds=0.01"])
    try:
        parsed = urlparse(url)
        folder = shared_folder(parsed.port, master=os.getpid())
        peer = folder / str(os.getpid())  # a live process: counted as a worker with no connection
        peer.write_bytes((0).to_bytes(8, "little"))
        pool = [http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10) for _ in range(10)]
        for conn in pool:
            conn.connect()
        closed = 0
        for _ in range(200):
            time.sleep(0.012)  # past the interval: the counts are compared again
            for conn in list(pool):
                if _get(conn):
                    conn.close()
                    pool.remove(conn)
                    closed += 1
            if len(pool) == 3 and all(not _get(c) for c in pool):
                break
        assert closed == 7 and len(pool) == 3
        time.sleep(0.1)
        assert _count(folder, proc.pid) == 3
        peer.write_bytes((3).to_bytes(8, "little"))
        for _ in range(20):
            time.sleep(0.012)
            assert not any(_get(c) for c in pool)
        for conn in pool:
            conn.close()
    finally:
        stop_service(proc)
        peer.unlink(missing_ok=True)


def test_two_real_workers_spread_a_burst_of_16_connections_evenly(small_models: Path, tmp_path: Path) -> None:
    """16 connections opened at once on two workers (the burst often lands 13/3 or worse), then
    requests on each, reconnecting when asked: the workers end within the slack of 8 each, counted
    by the kernel, and every request got its 200. (The test above is the deterministic one: this
    one fails with the balance off only when the burst lands unevenly.)"""
    proc, url = start_service(small_models, tmp_path / "events", workers=2)
    try:
        parsed = urlparse(url)
        pool = [socket.create_connection((parsed.hostname, parsed.port)) for _ in range(16)]
        conns = []
        for sock in pool:
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
            conn.sock = sock
            conns.append(conn)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for i, conn in enumerate(conns):
                if _get(conn):
                    conn.close()
                    conns[i] = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
            counts = worker_connections(proc.pid, parsed.port)
            if len(counts) == 2 and sum(counts) == 16 and counts[1] <= 9:
                break
        assert len(counts) == 2 and sum(counts) == 16 and counts[1] <= 9, counts
        for conn in conns:
            conn.close()
    finally:
        stop_service(proc, signal.SIGTERM)
