"""``python -m bench.overload``: the service past saturation, and memory over many reloads.

Load rows: ``shelfrank serve`` (``--workers``) on a trained bundle, driven over loopback by
an asyncio httpx2 client at 16, 64 and 256 connections for ``--seconds`` each, every
connection posting ``/v1/rerank`` (200 candidates) in a loop. Per level: requests
answered, the share shed with 503 (backpressure, ``serving.max_in_flight``), the admitted
(200) requests' p50 and p99, other statuses and client errors. The client is Python on
the same 2 cores, so its throughput is a floor and its latencies include its own
scheduling; where ``wrk`` is installed the same levels are also driven by wrk (C, one
thread), whose latency percentiles cover every answer, admitted and shed together.
Bounded in count and time; loopback only.

Reload rows: one process's resident memory after each of ``--reloads`` reloads
(``ServiceState.reload`` alternating two copies of the bundle), after ``gc.collect()``.
Results go to ``--out`` as JSON (``bench.reliability`` reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx2
import numpy as np

from bench.bench_serving import wrk_script
from bench.context import REPO
from bench.run import context
from shelfrank.local_service import start_service, stop_service

LEVELS = (16, 64, 256)


async def _drive(url: str, connections: int, seconds: float, body: dict) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    stop_at = time.monotonic() + seconds
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx2.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        async def one_connection() -> None:
            nonlocal errors
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    r = await client.post("/v1/rerank", json=body)
                except httpx2.HTTPError:
                    errors += 1
                    continue
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - started)

        await asyncio.gather(*[one_connection() for _ in range(connections)])
    total = sum(statuses.values())
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"connections": connections, "seconds": seconds, "answered": total,
            "rps": round(total / seconds, 1), "admitted": statuses.get(200, 0),
            "shed_share": round(statuses.get(503, 0) / total, 4) if total else None,
            "admitted_p50_ms": round(float(np.percentile(ms, 50)), 1),
            "admitted_p99_ms": round(float(np.percentile(ms, 99)), 1),
            "other_statuses": {str(k): v for k, v in statuses.items() if k not in (200, 503)},
            "client_errors": errors}


def _wrk(url: str, script: Path, connections: int, seconds: float) -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s",
                          str(script), url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 1)

    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"connections": connections, "answered": total,
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "non_2xx_share": round((int(bad.group(1)) if bad else 0) / max(total, 1), 4),
            "all_p50_ms": ms("50"), "all_p99_ms": ms("99"),
            "socket_errors": errors.group(0) if errors else ""}


def load_rows(bundle: Path, workers: int, seconds: float, sets: list[str]) -> dict:
    work = Path(tempfile.mkdtemp(prefix="shelfrank-overload-"))
    proc, url = start_service(bundle.parent, work / "events", workers=workers, bundle=bundle, extra=sets)
    body = {"surface": "homepage", "candidates": list(range(1, 201)), "page_size": 20}
    try:
        rows = {"python": [asyncio.run(_drive(url, c, seconds, body)) for c in LEVELS]}
        if shutil.which("wrk"):
            script = wrk_script("/v1/rerank", [body], work)
            rows["wrk"] = [_wrk(url, script, c, seconds) for c in LEVELS]
        return rows
    finally:
        stop_service(proc, signal.SIGTERM)
        shutil.rmtree(work, ignore_errors=True)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reload_memory(bundle: Path, reloads: int) -> dict:
    from ranking.settings import load_settings
    from serving.state import ServiceState

    work = Path(tempfile.mkdtemp(prefix="shelfrank-reloads-"))
    models = work / "models"
    for name in ("a", "b"):
        shutil.copytree(bundle.resolve(), models / name)
    settings = load_settings([f"serving.bundle={models / 'a'}", f"serving.events_dir={work / 'events'}"])
    state = ServiceState(settings)
    state.load_initial()
    samples = []
    for i in range(reloads):
        state.reload("b" if i % 2 == 0 else "a")
        gc.collect()
        samples.append(round(_rss_mb(), 1))
    state.exposures.close()
    state.event_log.close()
    shutil.rmtree(work, ignore_errors=True)
    first = samples[min(4, len(samples) - 1)]  # after the allocator's first rounds
    return {"reloads": reloads, "rss_mb_after_5": first, "rss_mb_end": samples[-1],
            "rss_mb_max": max(samples), "growth_mb": round(samples[-1] - first, 1),
            "every_10": samples[9::10]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="default", help="bench mall scale whose bundle to serve")
    parser.add_argument("--bundle", help="serve this bundle instead of the scale's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--reloads", type=int, default=100)
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="a serving setting for the served process, e.g. serving.max_in_flight=8")
    parser.add_argument("--out", default=str(REPO / "bench" / "overload.json"))
    args = parser.parse_args()
    bundle = Path(args.bundle) if args.bundle else context().bundle(args.scale)
    result = {"bundle": str(bundle.resolve().name), "workers": args.workers, "sets": args.sets,
              **load_rows(bundle, args.workers, args.seconds, args.sets),
              "reload_memory": reload_memory(bundle, args.reloads)}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
