"""The live state at mall scale: memory for 1M shoppers and 1M products, and apply throughput.

A :class:`ranking.live.LiveState` with the default ``live.*`` settings is given a catalog of
``LIVE_PRODUCTS`` products (1,000 leaves, 20,000 stores and brands), then synthetic logged
rows in batches of ``BATCH`` (what ``/v1/events`` takes at most): a page of 20 impressions for
one shopper in 20, and 1 + ``FILL`` clicks for each of ``LIVE_SHOPPERS`` shoppers (so every
shopper has a row and the rings hold real values). Reported: resident memory added by the
state (RSS, which counts the id maps' Python objects too) against the goal of 2 GB, the
state's own count of array bytes per part, and events applied per second in batches and one row at a time (the
service's smallest post). ``SHELFRANK_LIVE_BENCH_SHOPPERS`` / ``..._PRODUCTS`` scale it down.
"""

from __future__ import annotations

import os
import time

import numpy as np
import psutil

from bench.context import BenchContext

LIVE_SHOPPERS = int(os.environ.get("SHELFRANK_LIVE_BENCH_SHOPPERS", 1_000_000))
LIVE_PRODUCTS = int(os.environ.get("SHELFRANK_LIVE_BENCH_PRODUCTS", 1_000_000))
BATCH = 5_000
FILL = 2
T0 = 1_764_000_000_000  # epoch ms


def _rows(table: str, users: np.ndarray, products: np.ndarray, t: np.ndarray) -> list[dict]:
    if table == "impressions":
        return [{"request_id": int(u), "timestamp": int(s), "user_id": int(u), "surface": "homepage",
                 "query_id": None, "product_id": int(p), "position": i % 20 + 1}
                for i, (u, p, s) in enumerate(zip(users, products, t, strict=True))]
    return [{"request_id": int(u), "timestamp": int(s), "user_id": int(u), "product_id": int(p),
             "position": 1} for u, p, s in zip(users, products, t, strict=True)]


def _apply_all(state, table: str, users: np.ndarray, rng: np.random.Generator, t0: int) -> tuple[int, float]:
    started, n = time.perf_counter(), 0
    for lo in range(0, len(users), BATCH):
        u = users[lo:lo + BATCH]
        t = t0 + (lo + np.arange(len(u))) // 50  # 50 events a millisecond
        n += state.apply(table, _rows(table, u, rng.integers(0, LIVE_PRODUCTS, len(u)), t))
    return n, time.perf_counter() - started


def bench(ctx: BenchContext) -> dict:
    from ranking.live import LiveState

    rng = np.random.default_rng(ctx.seed)
    process = psutil.Process()
    before = process.memory_info().rss
    state = LiveState()
    products = np.arange(LIVE_PRODUCTS, dtype=np.int64)
    state.catalog.describe(products, leaf=rng.integers(0, 1_000, LIVE_PRODUCTS),
                           store=rng.integers(0, 20_000, LIVE_PRODUCTS),
                           brand=rng.integers(0, 20_000, LIVE_PRODUCTS))
    shoppers = np.arange(1, LIVE_SHOPPERS + 1, dtype=np.int64)
    pages = np.repeat(shoppers[: LIVE_SHOPPERS // 20], 20)  # a page of 20 cards for one shopper in 20
    applied, seconds = _apply_all(state, "impressions", pages, rng, T0)
    clicks = 0
    for round_ in range(1 + FILL):
        n, s = _apply_all(state, "clicks", rng.permutation(shoppers), rng, T0 + (round_ + 1) * 60_000)
        clicks, seconds, applied = clicks + n, seconds + s, applied + n
    rss = process.memory_info().rss - before
    one = rng.permutation(shoppers)[:2_000]
    started = time.perf_counter()
    for i, u in enumerate(one):
        state.apply("clicks", _rows("clicks", np.array([u]), rng.integers(0, LIVE_PRODUCTS, 1),
                                    np.array([T0 + 10 * 60_000 + i]))[0:1])
    single = len(one) / (time.perf_counter() - started)
    started = time.perf_counter()
    for u in one[:500]:
        state.shopper_view(int(u))
    view_ms = (time.perf_counter() - started) / 500 * 1000
    parts = state.nbytes()
    out = {"live_shoppers": LIVE_SHOPPERS, "live_products": LIVE_PRODUCTS, "live_events_applied": applied,
           "live_rss_mb": round(rss / 2**20, 1), "live_rss_goal_mb": 2048,
           "live_array_mb": round(sum(parts.values()) / 2**20, 1),
           "live_batch_events_per_second": round(applied / seconds),
           "live_single_row_events_per_second": round(single),
           "live_shopper_view_ms": round(view_ms, 3)}
    out.update({f"live_{name}_mb": round(b / 2**20, 1) for name, b in parts.items()})
    return out


if __name__ == "__main__":
    import json
    import tempfile
    from pathlib import Path

    print(json.dumps(bench(BenchContext(Path(tempfile.mkdtemp()), [], None)), indent=2))
