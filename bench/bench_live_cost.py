"""What the live state costs a page, and how many events a second the service takes in.

1. **Pages, live vs frozen** (issue 25: at most +2 ms p99): the default bundle served at 1
   worker twice, with ``live.backend=embedded`` and with ``live.backend=off``. Before timing,
   each of the 50 shoppers of the payloads gets ``CLICKS_PER_SHOPPER`` clicks (so the live
   arm reads a real history: recall, the session-intent lift and the history filter all
   work) and the service is given a second to apply them. wrk, 1 connection, search and
   homepage: p50 and p99 per arm and their difference.
2. **Sustained ingestion at 2 workers** (goal >= 5,000 events/s, 0 lost): wrk posts
   ``/v1/events`` batches of ``BATCH`` clicks (each click a new shopper) on 8 connections for
   ``SHELFRANK_BENCH_HTTP_SECONDS``. Reported: acknowledged events per second, then two
   checks that nothing acknowledged was lost: the click lines on disk equal the events
   acknowledged, and a sample of ``SAMPLE`` acknowledged shoppers are each seen with their
   click by both workers' live states (``GET /admin/live/shopper`` on fresh connections).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx2
import numpy as np

from bench.bench_serving import SECONDS, request_payloads, run_wrk, wrk_script
from bench.context import BenchContext

ADMIN = {"Authorization": "Bearer s3cret"}  # the token shelfrank.local_service starts with
CLICKS_PER_SHOPPER = 20
BATCH = 100
SAMPLE = 100
FIRST_USER = 900_000_000  # ingestion shoppers: ids no bundle knows


def give_live_clicks(url: str, payloads: dict, products: np.ndarray) -> None:
    """Give each shopper of the payloads a live history of clicks."""
    rng = np.random.default_rng(3)
    now = int(time.time() * 1000) - 60_000
    users = sorted({p["user_id"] for p in payloads["homepage"] + payloads["search"]})
    for n, user in enumerate(users):
        clicks = [{"request_id": 7_000_000 + n * 100 + i, "timestamp": now + i * 1000, "user_id": user,
                   "product_id": int(p), "position": 1}
                  for i, p in enumerate(rng.choice(products, CLICKS_PER_SHOPPER, replace=False))]
        httpx2.post(f"{url}/v1/events", json={"clicks": clicks}, headers=ADMIN, timeout=30).raise_for_status()
    time.sleep(1.5)


def page_cost(bundle: Path, work: Path) -> dict:
    from shelfrank.local_service import start_service, stop_service

    payloads = request_payloads(bundle)
    products = np.unique(np.concatenate([p["candidates"] for p in payloads["rerank"]]))
    out = {}
    for arm in ("embedded", "off"):
        proc, url = start_service(bundle.parent, work / f"events-{arm}", workers=1, bundle=bundle,
                                  extra=[f"live.backend={arm}", "serving.write_rate_per_second=0"])
        try:
            give_live_clicks(url, payloads, products)
            for name in ("search", "homepage"):
                got = run_wrk(url, wrk_script(f"/v1/{name}", payloads[name], work), 1)
                out[f"live_cost_{name}_{arm}_p50_ms"] = got["p50_ms"]
                out[f"live_cost_{name}_{arm}_p99_ms"] = got["p99_ms"]
                out[f"live_cost_{name}_{arm}_non_2xx"] = got["non_2xx"]
        finally:
            stop_service(proc)
    for name in ("search", "homepage"):
        out[f"live_cost_{name}_p99_extra_ms"] = round(
            out[f"live_cost_{name}_embedded_p99_ms"] - out[f"live_cost_{name}_off_p99_ms"], 2)
    out["live_cost_goal_extra_p99_ms"] = 2.0
    return out


def _ingest_script(folder: Path, products: np.ndarray) -> Path:
    """A wrk script posting batches of BATCH clicks, each of a shopper never seen before."""
    ids = ",".join(str(int(p)) for p in products[:500])
    script = folder / "ingest.lua"
    script.write_text(f"""
products = {{{ids}}}
n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer s3cret"
request = function()
  local rows = {{}}
  local now = math.floor(os.time() * 1000)
  for k = 1, {BATCH} do
    n = n + 1
    rows[k] = string.format('{{"request_id":%d,"timestamp":%d,"user_id":%d,"product_id":%d,"position":1}}',
                            n, now, {FIRST_USER} + n, products[(n % #products) + 1])
  end
  return wrk.format("POST", "/v1/events", nil, '{{"clicks":[' .. table.concat(rows, ",") .. ']}}')
end
""")
    return script


def _seen_everywhere(url: str, user: int, product: int, tries: int = 8) -> bool:
    """The shopper's click is in the live view of ``tries`` fresh connections in a row."""
    for _ in range(tries):
        r = httpx2.get(f"{url}/admin/live/shopper", params={"user_id": user}, headers=ADMIN, timeout=10)
        if r.status_code != 200 or product not in r.json()["items"]:
            return False
    return True


def ingestion(bundle: Path, work: Path) -> dict:
    from shelfrank.local_service import start_service, stop_service

    products = request_payloads(bundle)["rerank"][0]["candidates"]
    events = work / "events-ingest"
    proc, url = start_service(bundle.parent, events, workers=2, bundle=bundle,
                              extra=["serving.write_rate_per_second=0"])
    try:
        got = run_wrk(url, _ingest_script(work, np.asarray(products)), 8, SECONDS)
        acknowledged = (got["requests"] - got["non_2xx"]) * BATCH
        time.sleep(2.0)
        lines = sum(sum(1 for _ in p.open()) for p in (events / "clicks").glob("*.jsonl"))
        # the k-th click wrk built is shopper FIRST_USER + k on products[k % 500]; the last
        # 8 batches may still have been in flight when wrk stopped, so the sample leaves them out
        rng = np.random.default_rng(5)
        sure = max(acknowledged - 8 * BATCH, 1)
        sample = rng.choice(np.arange(1, sure + 1), min(SAMPLE, sure), replace=False)
        missing = sum(not _seen_everywhere(url, FIRST_USER + int(k), int(products[int(k) % 500]))
                      for k in sample)
    finally:
        stop_service(proc)
    return {"ingest_workers": 2, "ingest_batch": BATCH, "ingest_seconds": SECONDS,
            "ingest_events_per_s": round(acknowledged / SECONDS), "ingest_non_2xx": got["non_2xx"],
            "ingest_acknowledged": acknowledged, "ingest_lines_on_disk": lines,
            "ingest_lost_on_disk": max(acknowledged - lines, 0),
            "ingest_sampled_shoppers": len(sample), "ingest_sampled_missing_in_live": int(missing),
            "ingest_goal_events_per_s": 5000}


def bench(ctx: BenchContext) -> dict:
    if shutil.which("wrk") is None:
        return {"live_cost": "skipped: wrk is not installed (apt-get install wrk)"}
    bundle = ctx.bundle("default")
    work = ctx.work_dir / f"live-cost-{time.time_ns()}"
    work.mkdir(parents=True)
    try:
        return {"bundle": bundle.resolve().name, **page_cost(bundle, work), **ingestion(bundle, work)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import sys

    work_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/shelfrank-bench")
    print(json.dumps(bench(BenchContext(work_dir, ["default"], None)), indent=2))
