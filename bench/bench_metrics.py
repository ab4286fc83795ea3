"""Ranking metrics throughput (500k requests x 20 cards) and position-bias estimation at
default scale, with the estimate's distance from the simulator's true curve."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from bench.context import BenchContext

REQUESTS, CARDS = 500_000, 20


def _seconds(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def bench(ctx: BenchContext) -> dict:
    from ranking.contracts.frames import load_frames
    from training.evaluation.metrics import average_precision, mrr, ndcg_at_k, ranking_metrics
    from training.learning.position_bias import estimate_position_bias

    rng = np.random.default_rng(0)
    n = REQUESTS * CARDS
    group = np.repeat(np.arange(REQUESTS, dtype=np.int64), CARDS)
    gain = np.where(rng.random(n) < 0.1, rng.random(n), 0.0)
    score = rng.normal(size=n)
    shuffled = rng.permutation(n)
    out = {
        "metrics_rows": n,
        "ndcg@10_seconds": round(_seconds(lambda: ndcg_at_k(group, gain, score, 10)), 3),
        "mrr_seconds": round(_seconds(lambda: mrr(group, gain, score)), 3),
        "average_precision_seconds": round(_seconds(lambda: average_precision(group, gain, score)), 3),
        "ranking_metrics_all_seconds": round(_seconds(lambda: ranking_metrics(group, gain, score)), 3),
        "ndcg@10_interleaved_rows_seconds": round(
            _seconds(lambda: ndcg_at_k(group[shuffled], gain[shuffled], score[shuffled], 10), 1), 3
        ),
    }
    for scale in ctx.scales:
        if scale == "large":
            continue
        mall = ctx.mall(scale)
        frames = load_frames(mall, names=["impressions", "clicks"])
        started = time.perf_counter()
        estimate = estimate_position_bias(frames["impressions"], frames["clicks"], max_position=20)
        out[f"position_bias_{scale}_seconds"] = round(time.perf_counter() - started, 3)
        true = pd.read_parquet(mall / "truth" / "position_bias.parquet")
        both = estimate.merge(true, on=["surface", "position"], suffixes=("", "_true"))
        top = both[both.position <= 10]
        for surface, rows in top.groupby("surface"):
            error = (rows.examination - rows.examination_true).abs().max()
            out[f"position_bias_{scale}_{surface}_max_abs_error_slots_1_10"] = round(float(error), 4)
        out[f"position_bias_{scale}_randomised_impressions"] = int(
            estimate.loc[estimate.surface == "all", "impressions"].sum()
        )
    return out
