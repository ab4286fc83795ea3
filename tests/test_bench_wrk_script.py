"""bench.bench_serving.wrk_script against a real wrk and a small keep-alive server: the bodies posted
in turn, non-200 statuses counted, and with ``once`` each body posted once (the run stops at the last
answer instead of going round again)."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bench.bench_serving import run_wrk, wrk_script


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the service
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Recorder.seen.append(body)
        status = 422 if body["user_id"] == 2 else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server():
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.mark.parametrize("once", [True, False])
def test_bodies_go_in_turn_and_once_posts_each_one_time(server: str, tmp_path: Path, once: bool) -> None:
    bodies = [{"user_id": i} for i in range(5)]
    script = wrk_script("/v1/search", bodies, tmp_path, count_statuses=True, once=once)
    got = run_wrk(server, script, 1, 3)
    users = [b["user_id"] for b in _Recorder.seen]
    # in turn (wrk takes one request() at its start and sends from the second body on)
    first = users[0]
    assert users[:5] == [(first + i) % 5 for i in range(5)]
    if once:
        assert sorted(users) == [0, 1, 2, 3, 4] and got["requests"] == 5
        assert got["statuses"] == {"422": 1}  # the status counter still runs beside the stop
    else:
        assert got["requests"] > 5 and users[5:10] == users[:5]  # round again
        assert got["statuses"]["422"] > 1
    assert 0 < got["mean_ms"] <= got["p99_ms"]  # the mean latency read too (a stopped run's rate)
