"""The live catalog: change to visible on 2 workers, and 10,000 price changes applied.

A 2-worker ``shelfrank serve`` on loopback over the small mall's bundle, on each live backend
(embedded: ``catalog_visible_*``; Redis: ``catalog_visible_redis_*``, a private ``redis-server``,
skipped when the binary is absent). Run alone:
``python -m bench.bench_catalog WORKDIR [--backend embedded|redis|both]``.

* **Change to visible.** Each of ``TRIALS`` trials (``SHELFRANK_CATALOG_VISIBLE_TRIALS``) bans or
  unbans one product (``POST /v1/catalog/bans``) or gives it a new price (``PUT
  /v1/catalog/products``), then asks ``/v1/rerank`` (channel) with it among the candidates on fresh
  connections (the kernel spreads them over both workers) until ``STREAK`` answers in a row show
  the change; the time from the 200 to sending, and to receiving, the first of them bounds the
  trial's change-to-visible time. p50 and p99 of both, against the issue's goal of 1 s.
* **10,000 price changes.** One ``PUT /v1/catalog/products`` of 10,000 price changes (every
  product of the catalog priced anew, cycled), then the same asking until every worker shows the
  last one's price: the seconds from sending the PUT to that (checking, the fsync, and both
  workers' overlay with the comparable groups recomputed), against the goal of 10 s.
"""

from __future__ import annotations

import os
import time

import httpx2
import numpy as np

from bench.context import BenchContext
from bench.live_backends import backend_cli, both_backends, events_dir, served_on

TRIALS = int(os.environ.get("SHELFRANK_CATALOG_VISIBLE_TRIALS", 60))
STREAK = 6
ADMIN = {"Authorization": "Bearer s3cret"}  # the token shelfrank.local_service starts with
BULK = 10_000


def _cards(url: str, candidates: list[int]) -> dict[int, dict]:
    body = {"surface": "channel", "candidates": candidates, "page_size": len(candidates)}
    r = httpx2.post(f"{url}/v1/rerank", json=body, timeout=10)
    r.raise_for_status()
    return {c["product_id"]: c for c in r.json()["cards"]}


def _streak(url: str, candidates: list[int], check, since: float) -> tuple[float, float]:
    """(asked, answered) of the first of STREAK answers in a row for which ``check`` holds."""
    streak, start = 0, (0.0, 0.0)
    while streak < STREAK:
        asked = time.perf_counter()
        if check(_cards(url, candidates)):
            streak, start = streak + 1, start if streak else (asked, time.perf_counter())
        else:
            streak = 0
        if asked - since > 60:
            raise RuntimeError("a catalog change not visible after 60 s")
    return start[0] - since, start[1] - since


def _trial(url: str, i: int, product: int, candidates: list[int], price: float) -> tuple[float, float]:
    kind = i % 3
    if kind == 0:
        body, path, method = {"product_ids": [product], "reason": "bench"}, "/v1/catalog/bans", "POST"
        check = lambda c: product not in c  # noqa: E731
    elif kind == 1:
        body = {"product_ids": [product], "reason": "bench", "unban": True}
        path, method = "/v1/catalog/bans", "POST"
        check = lambda c: product in c  # noqa: E731
    else:
        new = round(price * (0.5 + (i % 7) / 10), 2)
        body, path, method = [{"product_id": product, "price": new}], "/v1/catalog/products", "PUT"
        check = lambda c: product in c and c[product]["price"] == new  # noqa: E731
    r = httpx2.request(method, f"{url}{path}", json=body, headers=ADMIN, timeout=10)
    r.raise_for_status()
    return _streak(url, candidates, check, time.perf_counter())


def _bulk(url: str, ids: np.ndarray, prices: np.ndarray, candidates: list[int]) -> float:
    pick = np.arange(BULK) % len(ids)
    factor = 0.8 + (np.arange(BULK) // len(ids)) * 0.01  # each later pass cheaper still
    rows = [{"product_id": int(ids[j]), "price": round(float(prices[j] * f), 2)}
            for j, f in zip(pick, factor, strict=True)]
    last = rows[-1]
    started = time.perf_counter()
    r = httpx2.put(f"{url}/v1/catalog/products", json=rows, headers=ADMIN, timeout=120)
    r.raise_for_status()
    probe = [*candidates, last["product_id"]] if last["product_id"] not in candidates else candidates
    _streak(url, probe, lambda c: c.get(last["product_id"], {}).get("price") == last["price"], started)
    return time.perf_counter() - started


def bench(ctx: BenchContext) -> dict:
    """Both backends (Redis on a private server, when redis-server is installed)."""
    return both_backends(ctx, measure, "catalog_visible_redis")


def measure(ctx: BenchContext, backend: str, redis_url: str | None = None) -> dict:
    """TRIALS trials and one bulk PUT on one backend; keys ``catalog_[redis_]...``."""
    from ranking.features.snapshot import FeatureSnapshot

    bundle = ctx.bundle("small")
    snap = FeatureSnapshot.load(bundle / "snapshot")
    cols = snap.products.columns
    ok = np.flatnonzero((cols["banned"] == 0) & (cols["stock"] > 0))
    ids, prices = snap.products.ids[ok], cols["price"][ok]
    with served_on(bundle, events_dir(ctx, "catalog"), backend, redis_url) as url:
        candidates = ids[:20].tolist()
        seconds = np.array([_trial(url, i, candidates[(i // 3) % 10], candidates,
                                   float(prices[(i // 3) % 10])) for i in range(TRIALS)])
        bulk = _bulk(url, ids, prices, candidates)
    key = "catalog_visible_" if backend == "embedded" else f"catalog_visible_{backend}_"
    ms = {f"{key}{bound}_p{q}_ms": round(float(np.percentile(seconds[:, j], q)) * 1000, 1)
          for j, bound in enumerate(("asked", "answered")) for q in (50, 99)}
    bulk_key = "catalog_10k_prices_" if backend == "embedded" else f"catalog_10k_prices_{backend}_"
    return {f"{key}trials": TRIALS, f"{key}workers": 2, **ms,
            f"{key}answered_max_ms": round(float(seconds[:, 1].max()) * 1000, 1), f"{key}goal_ms": 1000,
            f"{bulk_key}seconds": round(bulk, 2), f"{bulk_key}goal_seconds": 10}


if __name__ == "__main__":
    backend_cli(__doc__, bench, measure)
