"""The live state at mall scale: memory for 1M shoppers and 1M products, and apply throughput.

A :class:`ranking.live.LiveState` with the default ``live.*`` settings is given a catalog of
``LIVE_PRODUCTS`` products (1,000 leaves, 20,000 stores and brands), then synthetic logged
rows in batches of ``BATCH`` (what ``/v1/events`` takes at most): a page of 20 impressions for
one shopper in 20, and 1 + ``FILL`` clicks for each of ``LIVE_SHOPPERS`` shoppers (so every
shopper has a row and the rings hold real values). Reported: resident memory added by the
state (RSS, which counts the id maps' Python objects too) against the goal of 2 GB, the
state's own count of array bytes per part, and events applied per second in batches and one row at a time (the
service's smallest post). ``SHELFRANK_LIVE_BENCH_SHOPPERS`` / ``..._PRODUCTS`` scale it down.

Both backends side by side: the same load goes into a :class:`ranking.live.redis_state.
RedisLiveState` on a private ``redis-server`` (a free loopback port, no persistence) within
``SHELFRANK_LIVE_BENCH_REDIS_SECONDS`` (300 s) of applying, 100,000 shoppers at a time (each
slice gets the embedded load's pages and three rounds of clicks); its memory is Redis's own
count (INFO memory ``used_memory``), measured after the catalog and after the shoppers loaded,
and projected linearly to ``LIVE_SHOPPERS`` when the time bound stopped the load early (the
``live_redis_shoppers_loaded`` figure says how many went in). For each backend also the
event-to-visible latency: one click applied, then read back in the shopper's view, p50 / p99
over ``VISIBLE_SAMPLES`` (goal p99 <= 1 s). Without the redis-server binary the Redis figures
are replaced by the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

import numpy as np
import psutil

from bench.context import BenchContext

LIVE_SHOPPERS = int(os.environ.get("SHELFRANK_LIVE_BENCH_SHOPPERS", 1_000_000))
LIVE_PRODUCTS = int(os.environ.get("SHELFRANK_LIVE_BENCH_PRODUCTS", 1_000_000))
BATCH = 5_000
FILL = 2
T0 = 1_764_000_000_000  # epoch ms
REDIS_SECONDS = float(os.environ.get("SHELFRANK_LIVE_BENCH_REDIS_SECONDS", 300))
VISIBLE_SAMPLES = 500


def _rows(table: str, users: np.ndarray, products: np.ndarray, t: np.ndarray) -> list[dict]:
    if table == "impressions":
        return [{"request_id": int(u), "timestamp": int(s), "user_id": int(u), "surface": "homepage",
                 "query_id": None, "product_id": int(p), "position": i % 20 + 1}
                for i, (u, p, s) in enumerate(zip(users, products, t, strict=True))]
    return [{"request_id": int(u), "timestamp": int(s), "user_id": int(u), "product_id": int(p),
             "position": 1} for u, p, s in zip(users, products, t, strict=True)]


def _apply_all(state, table: str, users: np.ndarray, rng: np.random.Generator, t0: int,
               deadline: float = float("inf")) -> tuple[int, float]:
    started, n = time.perf_counter(), 0
    for lo in range(0, len(users), BATCH):
        if time.perf_counter() > deadline:
            break
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
    visible = _event_to_visible(state, shoppers, rng, T0 + 20 * 60_000)
    parts = state.nbytes()
    out = {"live_shoppers": LIVE_SHOPPERS, "live_products": LIVE_PRODUCTS, "live_events_applied": applied,
           "live_rss_mb": round(rss / 2**20, 1), "live_rss_goal_mb": 2048,
           "live_array_mb": round(sum(parts.values()) / 2**20, 1),
           "live_batch_events_per_second": round(applied / seconds),
           "live_single_row_events_per_second": round(single),
           "live_shopper_view_ms": round(view_ms, 3), **visible}
    out.update({f"live_{name}_mb": round(b / 2**20, 1) for name, b in parts.items()})
    del state
    out.update(_redis_bench(ctx))
    return out


def _event_to_visible(state, shoppers: np.ndarray, rng: np.random.Generator, t0: int,
                      prefix: str = "live") -> dict:
    """One click applied, then the shopper's view read until it shows it: p50 / p99 in ms."""
    took = []
    for i, user in enumerate(rng.choice(shoppers, VISIBLE_SAMPLES).tolist()):
        product = int(rng.integers(0, LIVE_PRODUCTS))
        started = time.perf_counter()
        state.apply("clicks", _rows("clicks", np.array([user]), np.array([product]), np.array([t0 + i])))
        while state.shopper_view(user).items[0] != product:
            pass
        took.append(time.perf_counter() - started)
    p50, p99 = np.percentile(np.array(took) * 1000, [50, 99])
    return {f"{prefix}_event_to_visible_p50_ms": round(float(p50), 2),
            f"{prefix}_event_to_visible_p99_ms": round(float(p99), 2),
            f"{prefix}_event_to_visible_goal_ms": 1000}


@contextmanager
def private_redis():
    """A private redis-server on a free loopback port, no persistence; stopped after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", folder],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def _redis_bench(ctx: BenchContext) -> dict:
    """The same load into RedisLiveState, bounded by REDIS_SECONDS of applying."""
    if shutil.which("redis-server") is None:
        return {"live_redis": "skipped: redis-server is not installed (scripts/install_redis.sh)"}
    from ranking.live.redis_state import RedisLiveState
    from ranking.settings import LiveSettings

    rng = np.random.default_rng(ctx.seed)
    with private_redis() as url:
        state = RedisLiveState(LiveSettings(redis_url=url, redis_prefix="bench:", redis_timeout_seconds=30))
        empty = state.nbytes()["redis_used_memory"]
        for lo in range(0, LIVE_PRODUCTS, 50_000):
            ids = np.arange(lo, min(lo + 50_000, LIVE_PRODUCTS))
            leaf, store, brand = (rng.integers(0, n, len(ids)) for n in (1_000, 20_000, 20_000))
            state.apply("products", [{"product_id": int(p), "category_id": int(c), "store_id": int(st),
                                      "brand_id": int(b)}
                                     for p, c, st, b in zip(ids, leaf, store, brand, strict=True)])
        catalog = state.nbytes()["redis_used_memory"] - empty
        return _redis_load(state, rng, empty, catalog)


def _redis_load(state, rng: np.random.Generator, empty: int, catalog: int) -> dict:
    """The embedded load, a slice of shoppers at a time (their pages, then their three rounds of
    clicks), until every shopper is in or REDIS_SECONDS have passed: the shoppers loaded carry
    the full load, so memory projects linearly from them."""
    deadline = time.perf_counter() + REDIS_SECONDS
    shoppers = np.arange(1, LIVE_SHOPPERS + 1, dtype=np.int64)
    applied, seconds, loaded = 0, 0.0, 0
    for lo in range(0, LIVE_SHOPPERS, 20 * BATCH):
        if time.perf_counter() > deadline:
            break
        part = shoppers[lo:lo + 20 * BATCH]
        slices = [("impressions", np.repeat(part[: len(part) // 20], 20), T0)]
        slices += [("clicks", rng.permutation(part), T0 + (r + 1) * 60_000) for r in range(1 + FILL)]
        for table, users, t0 in slices:
            n, took = _apply_all(state, table, users, rng, t0)
            applied, seconds = applied + n, seconds + took
        loaded = lo + len(part)
    share = loaded / LIVE_SHOPPERS
    loaded = shoppers[:loaded]
    used = state.nbytes()["redis_used_memory"] - empty
    projected = catalog + (used - catalog) / share
    one = rng.permutation(loaded)[:1_000]
    started = time.perf_counter()
    for i, u in enumerate(one):
        state.apply("clicks", _rows("clicks", np.array([u]), rng.integers(0, LIVE_PRODUCTS, 1),
                                    np.array([T0 + 10 * 60_000 + i])))
    single = len(one) / (time.perf_counter() - started)
    started = time.perf_counter()
    for u in one[:500]:
        state.shopper_view(int(u))
    view_ms = (time.perf_counter() - started) / 500 * 1000
    visible = _event_to_visible(state, loaded, rng, T0 + 20 * 60_000, prefix="live_redis")
    return {"live_redis_shoppers_loaded": len(loaded), "live_redis_events_applied": applied,
            "live_redis_catalog_mb": round(catalog / 2**20, 1), "live_redis_used_mb": round(used / 2**20, 1),
            f"live_redis_projected_{LIVE_SHOPPERS}_shoppers_mb": round(projected / 2**20, 1),
            "live_redis_memory_goal_mb": 2048, "live_redis_batch_events_per_second": round(applied / seconds),
            "live_redis_single_row_events_per_second": round(single),
            "live_redis_shopper_view_ms": round(view_ms, 3), **visible}


if __name__ == "__main__":
    import json
    import tempfile
    from pathlib import Path

    print(json.dumps(bench(BenchContext(Path(tempfile.mkdtemp()), [], None)), indent=2))
