"""A Redis-backed page's two live reads, in the client's CPU: ``python -m bench.redis_reads``.

Starts a private ``redis-server`` (:func:`bench.bench_live_state.private_redis`), applies
``--events`` rows of each kind (impressions, clicks, carts, orders) over ``--products`` products and
200 shoppers within the last 20 hours, rolls the window totals as the applier does, then times, in
this process's CPU (the client: building commands, the socket calls, parsing replies; not Redis's),
``RedisLiveState.product_signals`` for ``--pages`` lists of ``--candidates`` products (four passes)
and ``shopper_view`` for 50 shoppers (four passes), and the applier's ``roll_totals`` with nothing to
roll (200 calls, wall and CPU). Prints JSON with whether redis-py parses with
hiredis (``PYTHONPATH`` holding a ``hiredis.py`` that raises ImportError compares without it).
Every candidate of a list has orders in its day here, the costly case for GMV (read bucket by
bucket); a mall's pages hold fewer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import uuid

import numpy as np

from ranking.settings import LiveSettings

KINDS = ("impressions", "clicks", "carts", "orders")


def _rows(table: str, n: int, products: int, now_ms: int, rng: np.random.Generator) -> list[dict]:
    rows = []
    for i in range(n):
        row = {"request_id": i, "timestamp": now_ms - int(rng.integers(0, 20 * 3600_000)),
               "user_id": int(rng.integers(1, 201)), "product_id": int(rng.integers(1, products + 1)),
               "position": 1}
        if table == "impressions":
            row |= {"surface": "search", "query_id": None}
        if table == "orders":
            row |= {"order_id": i, "store_id": 7, "price_paid": float(rng.random() * 97.3), "quantity": 1,
                    "cancelled": False}
        rows.append(row)
    return rows


def measure(events: int = 6000, products: int = 3000, pages: int = 50, candidates: int = 500) -> dict:
    import redis.utils

    from bench.bench_live_state import private_redis
    from ranking.live.redis_state import RedisLiveState

    rng = np.random.default_rng(0)
    now = int(time.time() * 1000)
    with private_redis() as url:
        state = RedisLiveState(LiveSettings(redis_url=url, redis_prefix=f"reads-{uuid.uuid4().hex[:6]}:"))
        for table in KINDS:
            state.apply(table, _rows(table, events, products, now, rng))
        state.roll_totals(now)
        lists = [rng.choice(np.arange(1, products + 1), candidates, replace=False) for _ in range(pages)]
        for ids in lists[:5]:
            state.product_signals(ids, now)
        started = time.process_time()
        for _ in range(4):
            for ids in lists:
                state.product_signals(ids, now)
        signals = (time.process_time() - started) / (4 * pages) * 1000
        started = time.process_time()
        for _ in range(4):
            for user in range(1, 51):
                state.shopper_view(user, None, now)
        views = (time.process_time() - started) / 200 * 1000
        rolls = _rolls(state, now)
        state.close()
    return {"hiredis": bool(redis.utils.HIREDIS_AVAILABLE), "candidates": candidates,
            "product_signals_cpu_ms": round(signals, 3), "shopper_view_cpu_ms": round(views, 3), **rolls}


def _rolls(state, now: int, calls: int = 200) -> dict:
    """The applier's ``roll_totals`` after a poll that crossed no bucket (the common case), 200
    calls: the client's CPU and the wall time (Redis running the script included), ms a call."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        state.roll_totals(now)
    return {"roll_totals_wall_ms": round((time.perf_counter() - wall) / calls * 1000, 3),
            "roll_totals_cpu_ms": round((time.process_time() - cpu) / calls * 1000, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=500)
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print(json.dumps({"skipped": "redis-server is not installed (scripts/install_redis.sh)"}))
        return
    print(json.dumps(measure(args.events, args.products, args.pages, args.candidates)))


if __name__ == "__main__":
    main()
