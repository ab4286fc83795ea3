"""What the benches that time a service on both live-state backends share: the service at 2
workers on the embedded backend or on Redis (a private ``redis-server`` unless a URL is given),
both backends in one result, and the ``--backend`` command line."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from bench.context import BenchContext

Measure = Callable[[BenchContext, str, "str | None"], dict]


@contextmanager
def served_on(bundle: Path, events: Path, backend: str, redis_url: str | None = None) -> Iterator[str]:
    """The service serving ``bundle`` at 2 workers on ``backend``; its base URL."""
    from bench.bench_live_state import private_redis
    from shelfrank.local_service import start_service, stop_service

    server = private_redis() if backend == "redis" and redis_url is None else nullcontext(redis_url)
    with server as url_of_redis:
        sets = [f"live.backend={backend}"]
        if backend == "redis":
            sets += [f"live.redis_url={url_of_redis}", f"live.redis_prefix=bench-{uuid.uuid4().hex[:10]}:"]
        proc, url = start_service(bundle.parent, events, workers=2, extra=sets)
        try:
            yield url
        finally:
            stop_service(proc)


def events_dir(ctx: BenchContext, name: str) -> Path:
    """A fresh event log folder under the bench's scratch space."""
    return ctx.work_dir / f"{name}-events-{time.time_ns()}"


def both_backends(ctx: BenchContext, measure: Measure, skipped_key: str) -> dict:
    """``measure`` on the embedded backend, then on Redis when redis-server is installed."""
    out = measure(ctx, "embedded", None)
    if shutil.which("redis-server") is None:
        return {**out, skipped_key: "skipped: redis-server is not installed (scripts/install_redis.sh)"}
    return {**out, **measure(ctx, "redis", None)}


def backend_cli(doc: str, bench: Callable[[BenchContext], dict], measure: Measure) -> None:
    """``python -m bench.X [WORK] [--backend embedded|redis|both] [--redis-url URL]``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("work", nargs="?", default="/tmp/shelfrank-bench", help="scratch and cached malls")
    parser.add_argument("--backend", choices=("embedded", "redis", "both"), default="both")
    parser.add_argument("--redis-url", help="a Redis server to use (default: a private redis-server)")
    args = parser.parse_args()
    ctx = BenchContext(Path(args.work), ["small"], None)
    result = bench(ctx) if args.backend == "both" else measure(ctx, args.backend, args.redis_url)
    print(json.dumps(result, indent=2))
