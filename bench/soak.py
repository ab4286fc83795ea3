"""Sustained load over loopback at the service's saturation point (``make soak``).

Starts ``shelfrank serve`` on a trained bundle, measures its saturation throughput with
a short wrk probe, then drives ``/v1/rerank`` (500 candidates) with wrk until at least
``--requests`` requests are served (bounded by ``--max-seconds``), sampling every
worker's resident memory each second. Passes when no request failed (a 503 that
backpressure sheds is counted apart, at most ``SHED_TOLERANCE`` of the requests) and
memory is flat:
the workers' total RSS at the end is within ``--rss-tolerance`` of its value after the
first fifth of the run (warm-up). Results go to ``bench/soak.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_serving import free_port, request_payloads, run_wrk, wrk_script
from bench.context import REPO
from bench.run import context

SHED_TOLERANCE = 0.01  # at most this share of the soak's requests shed with 503


def _rss_mb(pid: int) -> float:
    """Resident memory of the process and its children (MB), from /proc."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def soak(bundle: Path, requests: int, workers: int, connections: int, max_seconds: int,
         tolerance: float) -> dict:
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="shelfrank-soak-"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "shelfrank", "--set", "serving.access_log=false",
         "--set", f"serving.events_dir={work / 'events'}", "serve",
         "--bundle", str(bundle), "--port", str(port), "--workers", str(workers), "--log-level",
         "warning"], cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx2

        for _ in range(600):
            try:
                if httpx2.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        script = wrk_script("/v1/rerank", request_payloads(bundle)["rerank"], work, count_statuses=True)
        os.environ["SHELFRANK_BENCH_HTTP_SECONDS"] = "5"
        probe = run_wrk(url, script, connections, seconds=5)
        seconds = int(min(max_seconds, max(30, requests / max(probe["rps"], 1) * 1.1)))
        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample() -> None:
            start = time.time()
            while not done.is_set():
                samples.append((time.time() - start, _rss_mb(proc.pid)))
                time.sleep(1.0)

        sampler = threading.Thread(target=sample)
        sampler.start()
        run = run_wrk(url, script, connections, seconds=seconds)
        done.set()
        sampler.join()
        served = int(run["rps"] * seconds)
        warm = [m for t, m in samples if t >= seconds * 0.2]
        rss_warm, rss_end = (warm[0], warm[-1]) if warm else (0.0, 0.0)
        growth = (rss_end - rss_warm) / rss_warm if rss_warm else 0.0
        result = {
            "bundle": bundle.resolve().name, "workers": workers, "connections": connections,
            "seconds": seconds, "requests": served, "rps": run["rps"], "p50_ms": run["p50_ms"],
            "p99_ms": run["p99_ms"], "non_2xx": run["non_2xx"], "socket_errors": run["socket_errors"],
            "statuses": run["statuses"], "shed_503": run["statuses"].get("503", 0),
            "failed": sum(n for code, n in run["statuses"].items() if code != "503"),
            "rss_mb_after_warmup": round(rss_warm, 1), "rss_mb_end": round(rss_end, 1),
            "rss_growth": round(growth, 4), "probe_rps": probe["rps"],
        }
        # a 503 is backpressure shedding a request it could not start in time (serving.admission),
        # by design at saturation; any other non-200 is a failure
        result["passed"] = bool(result["failed"] == 0 and not run["socket_errors"].strip()
                                and result["shed_503"] <= SHED_TOLERANCE * served
                                and served >= requests and growth <= tolerance)
        return result
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="default", help="bench mall scale whose bundle to serve")
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--max-seconds", type=int, default=900)
    parser.add_argument("--rss-tolerance", type=float, default=0.05)
    parser.add_argument("--out", default=str(REPO / "bench" / "soak.json"))
    args = parser.parse_args()
    bundle = context().bundle(args.scale)
    result = soak(bundle, args.requests, args.workers, args.connections, args.max_seconds,
                  args.rss_tolerance)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
