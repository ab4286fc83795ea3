"""Event to visible: how long after ``/v1/events`` answers 200 every worker's live state has it.

A 2-worker ``shelfrank serve`` (``live.poll_ms`` default) on loopback over the small mall's
bundle, on each live backend: embedded (``live_visible_*``), and Redis (``live_visible_redis_*``;
a private ``redis-server``, skipped when the binary is absent). Run alone:
``python -m bench.bench_live_visible WORKDIR [--backend embedded|redis] [--redis-url URL]``
(Redis without a url: a private server). Each trial posts one click of a new shopper, then asks
``GET /admin/live/shopper`` for that shopper on fresh connections (the kernel spreads them
over both workers) until ``STREAK`` answers in a row hold the click; the time from the 200 to
the first of them bounds the trial's event-to-visible time: from below by when that request
was sent (``asked``), from above by when its answer came (``answered``). Reported: p50 and p99
of both over ``TRIALS`` trials (``SHELFRANK_LIVE_VISIBLE_TRIALS``), against the issue's goal of 1 s.
"""

from __future__ import annotations

import os
import time

import httpx2
import numpy as np

from bench.context import BenchContext
from bench.live_backends import backend_cli, both_backends, events_dir, served_on

TRIALS = int(os.environ.get("SHELFRANK_LIVE_VISIBLE_TRIALS", 100))
STREAK = 6
ADMIN = {"Authorization": "Bearer s3cret"}  # the token shelfrank.local_service starts with


def _visible_after(url: str, user: int, product: int) -> tuple[float, float]:
    """(asked, answered): seconds from the 200 to sending, and to receiving, the first answer of
    the streak (the time it became visible lies between the two)."""
    now = int(time.time() * 1000)
    click = {"clicks": [{"request_id": user, "timestamp": now, "user_id": user, "product_id": product,
                         "position": 1}]}
    r = httpx2.post(f"{url}/v1/events", json=click, timeout=10, headers=ADMIN)
    r.raise_for_status()
    acked = time.perf_counter()
    streak, start = 0, (0.0, 0.0)
    while streak < STREAK:
        asked = time.perf_counter()
        r = httpx2.get(f"{url}/admin/live/shopper", params={"user_id": user}, headers=ADMIN, timeout=10)
        if r.status_code == 200 and product in r.json()["items"]:
            streak, start = streak + 1, start if streak else (asked, time.perf_counter())
        else:
            streak = 0
        if asked - acked > 30:
            raise RuntimeError(f"user {user}: not visible after 30 s")
    return start[0] - acked, start[1] - acked


def bench(ctx: BenchContext) -> dict:
    """Both backends (Redis on a private server, when redis-server is installed)."""
    return both_backends(ctx, measure, "live_visible_redis")


def measure(ctx: BenchContext, backend: str, redis_url: str | None = None) -> dict:
    """TRIALS trials on one backend; keys ``live_visible_[redis_]...``."""

    bundle = ctx.bundle("small")
    with np.load(bundle / "recall" / "homepage" / "homepage.npz", allow_pickle=False) as z:
        products, users = z["product_ids"], z["user_ids"]
    with served_on(bundle, events_dir(ctx, "live"), backend, redis_url) as url:
        first = int(users.max()) + 1
        seconds = np.array([_visible_after(url, first + i, int(products[i % len(products)]))
                            for i in range(TRIALS)])
    ms = {f"{bound}_p{q}": round(float(np.percentile(seconds[:, j], q)) * 1000, 1)
          for j, bound in enumerate(("asked", "answered")) for q in (50, 99)}
    key = "live_visible_" if backend == "embedded" else f"live_visible_{backend}_"
    return {f"{key}trials": TRIALS, f"{key}workers": 2, **{f"{key}{k}_ms": v for k, v in ms.items()},
            f"{key}answered_max_ms": round(float(seconds[:, 1].max()) * 1000, 1), f"{key}goal_ms": 1000}


if __name__ == "__main__":
    backend_cli(__doc__, bench, measure)
