"""Starting ``shelfrank serve`` as a real process on loopback (tests, closed-loop experiments)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(models: Path, events: Path, workers: int = 1, extra: list[str] | None = None,
                  bundle: Path | None = None, tree: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start the service on a free loopback port; return (process, base url) once ready.
    ``tree``: run the code of that checkout (its folder as the working directory and
    ``PYTHONPATH``) instead of this interpreter's (``bench.loop_cpu`` compares two)."""
    port = free_port()
    # no access log: stderr is a pipe read only if the start fails, and a line per request
    # would fill it (64 KB) and block the server mid-run
    sets = [f"serving.events_dir={events}", "serving.admin_token=s3cret",
            "serving.reload_poll_seconds=0.2", "serving.access_log=false", *(extra or [])]
    cmd = [sys.executable, "-m", "shelfrank.cli"]
    for s in sets:
        cmd += ["--set", s]
    cmd += ["serve", "--bundle", str(bundle or models / "latest"), "--port", str(port),
            "--workers", str(workers), "--log-level", "warning"]
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(cmd, cwd=tree, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if httpx2.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx2.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        time.sleep(0.2)
    stop_service(proc)
    raise RuntimeError("service did not become ready in 90 s")


def stop_service(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
