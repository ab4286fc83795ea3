"""Training at each bench scale: feature building throughput, training time and peak memory,
and the offline evaluation's headline numbers."""

from __future__ import annotations

import json

from bench.context import BenchContext


def bench(ctx: BenchContext) -> dict:
    out: dict = {}
    for scale in ctx.scales:
        if scale == "large":
            continue  # the 1M-product training run is issue 9's
        mall = ctx.mall(scale)
        models = ctx.work_dir / f"models-{scale}"
        m = ctx.run([*ctx.shelfrank(), "train", "--data", str(mall), "--out", str(models),
                     "--no-progress"])
        manifest = json.loads((models / "latest" / "manifest.json").read_text())
        t = manifest["training"]
        out[f"train_{scale}_seconds"] = round(m.seconds, 2)
        out[f"train_{scale}_peak_mb"] = round(m.peak_mb, 1)
        out[f"train_{scale}_feature_cards_per_second"] = t["rows_per_second_features"]
        out[f"train_{scale}_feature_seconds"] = t["feature_seconds"]
        out[f"train_{scale}_lightgbm_seconds"] = t["train_seconds"]
        out[f"train_{scale}_trees"] = t["num_trees"]
        metrics = ctx.work_dir / f"eval-{scale}.json"
        e = ctx.run([*ctx.shelfrank(), "evaluate", str(models / "latest"), "--data", str(mall),
                     "--json", str(metrics), "--no-progress"])
        result = json.loads(metrics.read_text())
        out[f"evaluate_{scale}_seconds"] = round(e.seconds, 2)
        out[f"evaluate_{scale}_fraction_of_oracle_ndcg@10"] = round(result["fraction_of_oracle_ndcg@10"], 4)
        for name, value in result["ndcg@10"].items():
            out[f"evaluate_{scale}_ndcg@10_{name}"] = round(value, 4)
    return out
