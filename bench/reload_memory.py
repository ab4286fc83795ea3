"""``python -m bench.reload_memory``: each worker's memory over many reloads, under load.

Issue 24, defect 7: the audit saw a worker grow from 541 to 1,127 MB after 12 swaps under
load at 2 workers. This serves two copies of a bundle (``models/a``, ``models/b``) with
``--workers`` workers, keeps ``--connections`` connections of ``wrk`` (or, without wrk, a
Python client) posting ``/v1/rerank`` and ``/v1/homepage`` for the whole run, and posts
``--reloads`` ``/admin/reload`` alternating the two. After each reload it waits until every
worker serves the new bundle (the other workers follow the control file), then reads each
worker's resident memory from ``/proc``. Every worker is a process of the service's session
(it is started in a new one), found by session id. Reports, per worker, RSS after the first
5 reloads and at the end, the growth, the maximum, a sample every 10 reloads, plus the load's
answers and failures (any status but 200 and the backpressure's 503). Results to ``--out``
as JSON; ``bench.reliability`` renders them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx2

from bench.bench_serving import wrk_script
from bench.context import REPO
from bench.run import context
from shelfrank.local_service import start_service, stop_service

ADMIN = {"Authorization": "Bearer s3cret"}
LOCK = threading.Lock()


def worker_rss_mb(session_leader: int) -> dict[int, float]:
    """Resident MB of every process in the service's session except its supervisor."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == session_leader:
            continue
        try:
            stat = (entry / "stat").read_text()
            sid = int(stat.rsplit(")", 1)[1].split()[3])
            if sid != session_leader:
                continue
            status = (entry / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        rss = next((ln for ln in status.splitlines() if ln.startswith("VmRSS:")), None)
        cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        if rss is not None and "python" in cmdline and "resource_tracker" not in cmdline:
            out[int(entry.name)] = int(rss.split()[1]) / 1024
    return out


def _load(url: str, work: Path, connections: int, seconds: int, body: dict) -> subprocess.Popen | None:
    """Background wrk for ``seconds`` (None when wrk is not installed)."""
    if not shutil.which("wrk"):
        return None
    script = wrk_script("/v1/rerank", [body], work)
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _python_load(url: str, stop: threading.Event, body: dict, counts: dict) -> None:
    """One connection posting ``body`` until ``stop``; counts answers by status (-1: no answer)."""
    with httpx2.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                status = client.post(f"{url}/v1/rerank", json=body).status_code
            except httpx2.HTTPError:
                status = -1
            with LOCK:
                counts[status] = counts.get(status, 0) + 1


def _wait_all_on(url: str, version: str, workers: int, deadline_s: float = 30.0) -> bool:
    """Until ``workers * 4`` fresh connections in a row see ``version`` (so every worker does)."""
    streak, end = 0, time.time() + deadline_s
    while time.time() < end and streak < workers * 4:
        try:
            seen = httpx2.get(f"{url}/v1/bundle", timeout=5).json().get("version")
        except (httpx2.HTTPError, ValueError):
            seen = None
        streak = streak + 1 if seen == version else 0
        if streak == 0:
            time.sleep(0.05)
    return streak >= workers * 4


def run(bundle: Path, workers: int, reloads: int, connections: int, sets: list[str] | None = None,
        use_wrk: bool = True) -> dict:
    work = Path(tempfile.mkdtemp(prefix="shelfrank-reload-memory-"))
    models = work / "models"
    versions = {name: _copy(bundle, models / name) for name in ("a", "b")}
    proc, url = start_service(models, work / "events", workers=workers, bundle=models / "a", extra=sets)
    body = {"surface": "homepage", "candidates": list(range(1, 201)), "page_size": 20}
    samples: dict[int, list[float]] = {}
    stop, counts = threading.Event(), {}
    try:
        wrk = _load(url, work, connections, int(reloads * 3 + 60), body) if use_wrk else None
        clients = [] if wrk else [threading.Thread(target=_python_load, args=(url, stop, body, counts))
                                  for _ in range(connections)]
        for client in clients:
            client.start()
        time.sleep(3)
        baseline = worker_rss_mb(proc.pid)
        lagging = 0
        for i in range(reloads):
            name = "b" if i % 2 == 0 else "a"
            r = httpx2.post(f"{url}/admin/reload", json={"bundle": name}, headers=ADMIN, timeout=120)
            r.raise_for_status()
            lagging += not _wait_all_on(url, versions[name], workers)
            for pid, mb in worker_rss_mb(proc.pid).items():
                samples.setdefault(pid, []).append(round(mb, 1))
        stop.set()
        load = _finish_load(wrk, clients, counts)
    finally:
        stop.set()
        stop_service(proc, signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)
    return {"bundle": bundle.resolve().name, "workers": workers, "reloads": reloads, "sets": sets or [],
            "connections": connections, "reloads_not_seen_by_every_worker_in_30s": lagging,
            "rss_mb_before_reloads": {str(k): round(v, 1) for k, v in baseline.items()},
            "per_worker": [_summary(pid, s) for pid, s in samples.items() if len(s) == reloads],
            "respawned_workers": sum(len(s) != reloads for s in samples.values()), "load": load}


def _copy(bundle: Path, to: Path) -> str:
    """A copy of the bundle whose manifest names its own version (so a reload is visible)."""
    shutil.copytree(bundle.resolve(), to)
    manifest = json.loads((to / "manifest.json").read_text())
    manifest["version"] = f"{manifest['version']}-{to.name}"
    (to / "manifest.json").write_text(json.dumps(manifest))
    return manifest["version"]


def _summary(pid: int, s: list[float]) -> dict:
    first = s[min(4, len(s) - 1)]
    return {"pid": pid, "rss_mb_after_5": first, "rss_mb_end": s[-1], "rss_mb_max": max(s),
            "growth_mb": round(s[-1] - first, 1), "every_10": s[9::10]}


def _finish_load(wrk: subprocess.Popen | None, clients: list[threading.Thread], counts: dict) -> dict:
    if wrk is None:
        for client in clients:
            client.join()
        return {"driver": "python", "statuses": {str(k): v for k, v in counts.items()},
                "failed": sum(v for k, v in counts.items() if k not in (200, 503))}
    wrk.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
    out = wrk.communicate(timeout=30)[0]
    total = next((int(ln.split()[0]) for ln in out.splitlines() if "requests in" in ln), 0)
    bad = next((int(ln.split()[-1]) for ln in out.splitlines() if "Non-2xx" in ln), 0)
    errors = next((ln.strip() for ln in out.splitlines() if "Socket errors" in ln), "")
    return {"driver": "wrk", "answered": total, "non_2xx": bad, "socket_errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="default", help="bench mall scale whose bundle to serve")
    parser.add_argument("--bundle", help="serve this bundle instead of the scale's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reloads", type=int, default=100)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="a setting for the served process, e.g. serving.malloc_arenas=0")
    parser.add_argument("--out", default=str(REPO / "bench" / "reload_memory.json"))
    args = parser.parse_args()
    bundle = Path(args.bundle) if args.bundle else context().bundle(args.scale)
    result = run(bundle, args.workers, args.reloads, args.connections, args.sets)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
