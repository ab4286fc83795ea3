"""Search recall indexes at each bench scale (1M products with scale 'large'): build time,
peak memory, one-thread dense query latency and HNSW recall against exact search."""

from __future__ import annotations

import json
import sys

from bench.context import BenchContext


def bench(ctx: BenchContext) -> dict:
    out: dict = {}
    for scale in ctx.scales:
        path = ctx.work_dir / f"recall-index-{scale}.json"
        m = ctx.run([sys.executable, "-m", "bench.recall_index_build", "--scale", scale, "--out", str(path)])
        got = json.loads(path.read_text())
        for key, value in got.items():
            out[f"recall_{scale}_{key}"] = value
        out[f"recall_{scale}_wall_seconds"] = round(m.seconds, 1)
    return out
