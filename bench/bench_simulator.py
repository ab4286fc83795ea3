"""Simulator speed and peak memory per scale (the issue's bar: default < 2 min, large < 15 min
and < 8 GB)."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq

from bench.context import BenchContext


def bench(ctx: BenchContext) -> dict:
    out: dict = {}
    for scale in ctx.scales:
        path = ctx.mall_path(scale)
        if path.exists():
            shutil.rmtree(path)
        m = ctx.run([*ctx.shelfrank(), "simulate", "--scale", scale, "--seed", str(ctx.seed),
                     "--out", str(path), "--no-progress"])
        out[f"simulate_{scale}_seconds"] = round(m.seconds, 2)
        out[f"simulate_{scale}_peak_mb"] = round(m.peak_mb, 1)
        out[f"simulate_{scale}_impressions"] = pq.ParquetFile(path / "impressions.parquet").metadata.num_rows
        out[f"simulate_{scale}_orders"] = pq.ParquetFile(path / "orders.parquet").metadata.num_rows
        params = json.loads((path / "truth" / "params.json").read_text())
        assert params["scale"] == scale
    return out
