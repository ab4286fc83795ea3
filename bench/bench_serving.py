"""The ranking service's speed on the default-scale bundle.

1. Model scoring, 500 candidates, one thread: compiled trees (lleaves) vs LightGBM's predict.
2. The pipelines in process (no HTTP): rerank-500, search and homepage p50/p99.
3. Over loopback with wrk (a C load generator; ``apt-get install wrk``): p50/p99 and
   throughput for rerank-500, search, homepage and a no-op endpoint that parses the
   same rerank payload, at 1 and 2 workers; latency at 1 connection, throughput at 8.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.context import REPO, BenchContext

SECONDS = int(os.environ.get("SHELFRANK_BENCH_HTTP_SECONDS", "8"))


def _percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def _time(fn, n: int = 300) -> tuple[float, float]:
    for _ in range(20):
        fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return _percentiles(samples)


def request_payloads(bundle: Path, n_candidates: int = 500, count: int = 50) -> dict[str, list[dict]]:
    """``count`` payloads per page (shoppers drawn from the bundle's users, two-word queries from
    its vocabulary); the benches cycle through them, so a shopper or query repeats every
    ``count`` requests (what the kept per-shopper and per-query results count on)."""
    from ranking.bundle import load_bundle

    snap = load_bundle(bundle).snapshot
    rng = np.random.default_rng(0)
    ids = snap.products.ids
    ok = ids[(snap.products.columns["stock"] > 0) & (snap.products.columns["banned"] == 0)]
    users = snap.users.ids
    vocab = [w for w in snap.text.vocabulary if len(w) >= 2][:2000]
    payloads: dict[str, list[dict]] = {"rerank": [], "search": [], "homepage": []}
    for _ in range(count):
        user = int(rng.choice(users))
        payloads["rerank"].append({"surface": "homepage", "user_id": user, "page_size": 20,
                                   "candidates": rng.choice(ok, n_candidates, replace=False).tolist()})
        query = " ".join(rng.choice(vocab, 2).tolist())
        payloads["search"].append({"query": query, "user_id": user, "page_size": 20})
        payloads["homepage"].append({"user_id": user, "page_size": 20})
    payloads["noop"] = payloads["rerank"]
    return payloads


def in_process_latency(bundle: Path, payloads: dict) -> dict:
    from ranking.engine import Engine
    from ranking.pipeline import RankRequest
    from ranking.recall.vector_index import set_search_threads
    from ranking.settings import load_settings

    settings = load_settings()
    set_search_threads(settings.serving.search_threads)  # as the service does
    engine = Engine.load(bundle, settings)
    out = {}
    model = engine.bundle.model
    rng = np.random.default_rng(1)
    x = engine.pipelines["rerank"]
    req = payloads["rerank"][0]
    rr = RankRequest(surface="homepage", page_size=20, now_ms=int(time.time() * 1000), hour=20,
                     user_id=req["user_id"], candidates=np.asarray(req["candidates"]))
    page = x.run(rr)
    assert len(page.cards) == 20
    full = x.run(RankRequest(**{**rr.__dict__, "page_size": len(req["candidates"])}))
    features = np.resize(full.cards.features, (500, full.cards.features.shape[1]))
    out["score_500_lightgbm_p50_ms"], out["score_500_lightgbm_p99_ms"] = _time(
        lambda: model.score_with_lightgbm(features))
    out["score_500_compiled_p50_ms"], out["score_500_compiled_p99_ms"] = _time(lambda: model.score(features))
    out["scorer"] = model.scorer
    out["score_speedup_compiled_vs_lightgbm"] = round(
        out["score_500_lightgbm_p50_ms"] / out["score_500_compiled_p50_ms"], 2)
    cases = {
        "rerank_500": lambda i: x.run(RankRequest(
            surface="homepage", page_size=20, now_ms=0, hour=int(rng.integers(24)),
            user_id=payloads["rerank"][i % 50]["user_id"],
            candidates=np.asarray(payloads["rerank"][i % 50]["candidates"]))),
        "search": lambda i: engine.pipelines["search"].run(RankRequest(
            surface="search", page_size=20, now_ms=0, hour=12, query=payloads["search"][i % 50]["query"],
            user_id=payloads["search"][i % 50]["user_id"])),
        "homepage": lambda i: engine.pipelines["homepage"].run(RankRequest(
            surface="homepage", page_size=20, now_ms=int(time.time() * 1000), hour=20,
            user_id=payloads["homepage"][i % 50]["user_id"])),
    }
    for name, fn in cases.items():
        counter = iter(range(10**9))
        out[f"pipeline_{name}_p50_ms"], out[f"pipeline_{name}_p99_ms"] = _time(
            lambda fn=fn, counter=counter: fn(next(counter)))
    engine.close()
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# counts every answer that is not a 200 by status; wrk prints them at the end ("status 503: 12")
STATUS_COUNTER = """
statuses = {}
threads = {}
setup = function(thread) table.insert(threads, thread) end
response = function(status, headers, body)
  if status ~= 200 then statuses[status] = (statuses[status] or 0) + 1 end
end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do io.write(string.format("status %d: %d\\n", code, n)) end
  end
end
"""


# appended by ``wrk_script(once=True)``: the thread stops at the answer to its last body, so no
# body is posted twice (wrk.thread:stop() from ``response``; any ``response`` defined before runs first)
STOP_AT_LAST_BODY = """
answered = 0
local counted = response
response = function(status, headers, body)
  if counted then counted(status, headers, body) end
  answered = answered + 1
  if answered >= #bodies then wrk.thread:stop() end
end
"""


def wrk_script(path: str, bodies: list[dict], folder: Path, count_statuses: bool = False,
               once: bool = False) -> Path:
    """A wrk script posting ``bodies`` in turn to ``path``; with ``count_statuses`` it also prints
    the count of each non-200 status (``run_wrk`` returns them as ``statuses``); with ``once`` (one
    connection) it stops after the last body's answer when the bodies run out before the run's
    seconds, so each is posted once (wrk still waits out the seconds: its requests/s then counts
    the idle rest, and ``mean_ms`` gives the rate)."""
    lines = ["bodies = {"] + [f"  {json.dumps(json.dumps(b))}," for b in bodies] + ["}"]
    lines += [
        "i = 0",
        'wrk.headers["Content-Type"] = "application/json"',
        "request = function()",
        "  i = i % #bodies + 1",
        f'  return wrk.format("POST", "{path}", nil, bodies[i])',
        "end",
    ]
    if count_statuses:
        lines.append(STATUS_COUNTER)
    if once:
        lines.append(STOP_AT_LAST_BODY)
    script = folder / f"{path.strip('/').replace('/', '_')}{'-once' if once else ''}.lua"
    script.write_text("\n".join(lines))
    return script


def run_wrk(url: str, script: Path, connections: int, seconds: int | None = None) -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds or SECONDS}s",
                          "--latency", "-s",
                          str(script), url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    statuses = {code: int(n) for code, n in re.findall(r"^status (\d+): (\d+)$", out, re.M)}
    return {"p50_ms": ms("50%"), "p99_ms": ms("99%"), "mean_ms": ms("Latency"), "rps": rps,
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(0) if errors else "",
            "statuses": statuses}


def http_latency(bundle: Path, payloads: dict, workers: int, work: Path) -> dict:
    port = free_port()
    events = work / f"events-{workers}"
    env = {**os.environ}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shelfrank", "--set", "serving.access_log=false",
         "--set", f"serving.events_dir={events}", "serve",
         "--bundle", str(bundle), "--port", str(port), "--workers", str(workers), "--log-level",
         "warning"], cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx2

        for _ in range(300):
            try:
                if httpx2.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        out = {}
        paths = {"rerank": "/v1/rerank", "search": "/v1/search", "homepage": "/v1/homepage",
                 "noop": "/v1/noop"}
        for name, path in paths.items():
            script = wrk_script(path, payloads[name], work)
            low = run_wrk(url, script, 1)
            high = run_wrk(url, script, 8)
            key = f"http_{name}_{workers}w"
            out[f"{key}_p50_ms"], out[f"{key}_p99_ms"] = low["p50_ms"], low["p99_ms"]
            out[f"{key}_rps_c1"], out[f"{key}_rps_c8"] = low["rps"], high["rps"]
            out[f"{key}_c8_p99_ms"] = high["p99_ms"]
            out[f"{key}_non_2xx"] = low["non_2xx"] + high["non_2xx"]
        out[f"http_rerank_vs_noop_p50_ratio_{workers}w"] = round(
            out[f"http_rerank_{workers}w_p50_ms"] / out[f"http_noop_{workers}w_p50_ms"], 2)
        return out
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def bench(ctx: BenchContext) -> dict:
    bundle = ctx.bundle("default")
    payloads = request_payloads(bundle)
    out = {"bundle": str(bundle.resolve().name)}
    out.update(in_process_latency(bundle, payloads))
    if shutil.which("wrk") is None:
        out["http"] = "skipped: wrk is not installed (apt-get install wrk)"
        return out
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            out.update(http_latency(bundle, payloads, workers, Path(tmp)))
    return out
