"""One measured run: what an operator's preview costs against the shopper's own search.

``python -m bench.console_preview --bundle models/latest [--query 大米] [--n 60]`` serves the
bundle in-process (FastAPI's test client, one worker, no network), pins the query's fifth card in
a draft and times, interleaved request by request, ``POST /v1/search``, the same search with
``?explain=true``, and ``POST /v1/rules/preview`` of that search with the draft (two explained
rankings of one request, serving/merchandising_preview.py). Prints p50 / p90 per call and the
preview's p50 over the explained search's. Searches are an anonymous shopper's. One JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from ranking.settings import load_settings
from serving.app import create_app

TOKEN = "bench-operator"


def measure(client: TestClient, query: str, n: int) -> dict:
    search = {"query": query, "page_size": 20}
    cards = [c["product_id"] for c in client.post("/v1/search", json=search).json()["cards"]]
    draft = {"match": {"query": query}, "action": {"pin": [cards[min(4, len(cards) - 1)]]}, "reason": "bench"}
    preview = {"surface": "search", "request": search, "draft": draft}
    operator = {"Authorization": f"Bearer {TOKEN}"}
    calls = {"search": lambda: client.post("/v1/search", json=search),
             "search_explain": lambda: client.post("/v1/search?explain=true", json=search),
             "preview": lambda: client.post("/v1/rules/preview", json=preview, headers=operator)}
    times: dict[str, list[float]] = {k: [] for k in calls}
    for i in range(n + 5):  # the first 5 rounds warm up
        for name, call in calls.items():
            started = time.perf_counter()
            assert call().status_code == 200
            if i >= 5:
                times[name].append((time.perf_counter() - started) * 1000)
    out = {f"{k}_{q}_ms": round(float(np.percentile(v, q)), 1) for k, v in times.items() for q in (50, 90)}
    out["preview_over_search_explain_p50"] = round(out["preview_50_ms"] / out["search_explain_50_ms"], 2)
    return {"query": query, "n": n, **out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=Path("models/latest"))
    parser.add_argument("--query", default="大米")
    parser.add_argument("--n", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as events:
        settings = load_settings([f"serving.bundle={args.bundle}", f"serving.events_dir={events}",
                                  f"serving.admin_token={TOKEN}", "serving.access_log=false"])
        with TestClient(create_app(settings)) as client:
            print(json.dumps(measure(client, args.query, args.n), ensure_ascii=False))


if __name__ == "__main__":
    main()
