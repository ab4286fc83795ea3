"""Connection limits of the real server (issue 24, defect 6), over raw loopback sockets.

Before ``serving/protocol.py`` and the body deadline, each of these failed: an unfinished
1 MB header was read and kept with no answer (the 32 MB version doubled a worker's
memory), a connection that sent half a header or nothing at all was held for good, a
stalled body held its request, and SIGTERM then waited on it forever.
"""

from __future__ import annotations

import signal
import socket
import time
from urllib.parse import urlparse

import pytest
from conftest import record_reliability

from shelfrank.local_service import start_service, stop_service

LIMITS = ["serving.max_header_bytes=8192", "serving.header_timeout_seconds=1",
          "serving.body_timeout_seconds=1", "serving.drain_seconds=0.5",
          "serving.graceful_shutdown_seconds=3"]


@pytest.fixture(scope="module")
def service(small_models, tmp_path_factory):
    proc, url = start_service(small_models, tmp_path_factory.mktemp("events"), extra=LIMITS)
    yield proc, url
    stop_service(proc, signal.SIGKILL)


def _connect(url: str) -> socket.socket:
    parsed = urlparse(url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
    return sock


def _read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection; (data, seconds taken)."""
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pytest.fail(f"the server still held the connection after {within} s (got {data[:80]!r})")
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


def test_an_oversized_unfinished_header_gets_431_and_the_connection_is_closed(service):
    _, url = service
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(64):  # 1 MB of one header that never ends
                sock.sendall(b"a" * 16384)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us mid-send: what we want
        data, _ = _read_until_closed(sock, 5)
    assert data.startswith(b"HTTP/1.1 431"), data[:120]
    record_reliability("header_flood", sent_mb=1, cap_bytes=8192, status=431)


def test_a_header_that_trickles_in_is_cut_at_the_header_deadline(service):
    _, url = service
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        data, took = _read_until_closed(sock, 6)
    assert data.startswith(b"HTTP/1.1 408"), data[:120]
    assert took < 4
    record_reliability("slow_header", deadline_s=1, closed_after_s=round(took, 2))


def test_a_silent_connection_is_closed_at_the_header_deadline(service):
    _, url = service
    with _connect(url) as sock:
        data, took = _read_until_closed(sock, 6)
    assert took < 4
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:120]


def test_a_stalled_body_gets_408_and_ordinary_requests_still_work(service):
    _, url = service
    with _connect(url) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"clicks\": [")
        data, took = _read_until_closed(sock, 6)
    assert data.startswith(b"HTTP/1.1 408"), data[:120]
    assert took < 4
    record_reliability("slow_body", deadline_s=1, answered_408_after_s=round(took, 2))
    with _connect(url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = _read_until_closed(sock, 5)
    assert data.startswith(b"HTTP/1.1 200")


def test_sigterm_turns_readyz_503_then_exits_despite_a_stalled_body(small_models, tmp_path):
    import httpx2

    extra = [*LIMITS, "serving.drain_seconds=5", "serving.body_timeout_seconds=30"]
    proc, url = start_service(small_models, tmp_path / "events", extra=extra)
    try:
        stalled = _connect(url)
        stalled.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1000\r\n\r\n{")
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # the uvicorn process itself (one worker: it serves)
        # polled, not after a fixed pause: a loaded machine may take a moment to run the handler
        while (r := httpx2.get(f"{url}/readyz", timeout=5)).status_code != 503 \
                and time.monotonic() - started < 4:
            time.sleep(0.05)
        assert r.status_code == 503 and "draining" in r.json()["reason"]
        assert httpx2.get(f"{url}/healthz", timeout=5).status_code == 200  # still serving
        proc.wait(30)  # drain 5 s + graceful shutdown 3 s, though the body never comes
        took = time.monotonic() - started
        assert took < 20
        record_reliability("sigterm_stalled_body", drain_s=5, exited_after_s=round(took, 2))
        stalled.close()
    finally:
        stop_service(proc, signal.SIGKILL)
