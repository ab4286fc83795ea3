"""Offline metrics and training time of one setting's values, several seeds each:
``python -m bench.point_in_time DATA WORKDIR --setting training.score_cadence_days --values 7 1
[--seeds 7 8] [SETTING=VALUE ...]``.

For each seed and value (alternating, so a machine that gets busier mid-run loads both alike) it
trains a bundle on DATA into WORKDIR (``train_bundle``, the settings with ``SETTING=VALUE`` and
``training.seed``), evaluates it on its test days with the same settings (``evaluate_bundle``:
the oracle's NDCG@10 on a simulated mall, the logged NDCG@10) and adds the model's AUC on the test
cards for a click (grade >= 1) and an order (grade 3). Prints JSON: each run's figures, the mean of
each value and the ratio of the median feature-building seconds of each value to the first's. The
point-in-time figures of docs/catalog.md come from this command.

``python -m bench.point_in_time DATA --snapshots-only [--values 7 1]`` times only the snapshots
training builds with each ``training.score_cadence_days`` value (every cut's days from the warm-up
on; no featurising, no training): what the daily scores cost on a mall too big to train twice.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import numpy as np


def run_one(data: Path, models: Path, overrides: list[str]) -> dict:
    """Train, evaluate and score one bundle under ``overrides``."""
    from sklearn.metrics import roc_auc_score

    from ranking.settings import load_settings
    from training.evaluation.evaluate import evaluate_bundle
    from training.learning.train import train_bundle

    settings = load_settings(overrides)
    path, manifest = train_bundle(data, models, settings, progress=False)
    evaluation = evaluate_bundle(path, data, settings, progress=False)
    grade, score = evaluation.frame.grade, evaluation.scores["model"]
    metrics = evaluation.metrics
    return {
        "feature_seconds": manifest["training"]["feature_seconds"],
        "train_seconds": manifest["training"]["train_seconds"],
        "oracle_ndcg@10": metrics.get("ndcg@10", {}).get("model"),
        "logged_ndcg@10": metrics["logged_ndcg@10"]["model"],
        "click_auc": float(roc_auc_score(grade >= 1, score)),
        "order_auc": float(roc_auc_score(grade == 3, score)),
        "load": os.getloadavg()[0],
    }


def snapshot_seconds(data: Path, values: list[str]) -> dict:
    """Seconds to build the snapshots a ranking frame of DATA reads, per cadence value."""
    import time

    from ranking.settings import load_settings
    from training.data.mall_data import load_mall
    from training.learning.dataset import DAY_MS, cut_days, day_index, mall_day_zero_ms
    from training.learning.snapshot_builder import CatalogCache, build_snapshot

    mall = load_mall(data)
    out: dict = {}
    for value in values:
        settings = load_settings([f"training.score_cadence_days={value}"])
        zero = mall_day_zero_ms(mall, settings.mall.timezone)
        n_days = int(day_index(mall["impressions"].timestamp.to_numpy(), zero).max()) + 1
        cuts = cut_days(n_days, settings)
        step = min(int(value), settings.training.snapshot_every_days)
        days = [d for k, c in enumerate(cuts)
                for d in range(c, cuts[k + 1] if k + 1 < len(cuts) else n_days, step)]
        catalog = CatalogCache(mall)
        started = time.perf_counter()
        for day in days:
            build_snapshot(mall, zero + day * DAY_MS, settings, catalog)
        seconds = time.perf_counter() - started
        out[value] = {"snapshots": len(days), "seconds": round(seconds, 2),
                      "seconds_each": round(seconds / max(len(days), 1), 3), "load": os.getloadavg()[0]}
    return out


def summarise(runs: list[dict], values: list[str]) -> dict:
    """Mean of each figure per value, and the median feature seconds against the first value's."""
    out: dict = {}
    for v in values:
        mine = [r for r in runs if r["value"] == v]
        out[v] = {k: float(np.mean([r[k] for r in mine if r[k] is not None]))
                  for k in ("oracle_ndcg@10", "logged_ndcg@10", "click_auc", "order_auc", "feature_seconds")
                  if any(r[k] is not None for r in mine)}
        first = statistics.median(r["feature_seconds"] for r in runs if r["value"] == values[0])
        out[v]["feature_seconds_ratio"] = statistics.median(r["feature_seconds"] for r in mine) / first
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="a mall folder")
    parser.add_argument("work", type=Path, nargs="?", help="a scratch folder for the bundles")
    parser.add_argument("--setting", default="training.score_cadence_days")
    parser.add_argument("--values", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[7, 8])
    parser.add_argument("--snapshots-only", action="store_true", help="time the snapshots only")
    parser.add_argument("overrides", nargs="*", help="more settings, e.g. training.live_features=false")
    args = parser.parse_intermixed_args()
    if args.snapshots_only:
        print(json.dumps(snapshot_seconds(args.data, args.values), indent=2))
        return
    runs = []
    for seed in args.seeds:
        for value in args.values:
            overrides = [*args.overrides, f"{args.setting}={value}", f"training.seed={seed}"]
            result = run_one(args.data, args.work / f"{value}-{seed}", overrides)
            runs.append({"value": value, "seed": seed, **result})
            print(json.dumps(runs[-1]), flush=True)
    print(json.dumps({"setting": args.setting, "data": str(args.data), "runs": runs,
                      "mean": summarise(runs, args.values)}, indent=2))


if __name__ == "__main__":
    main()
