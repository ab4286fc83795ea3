"""Platform scores at each bench scale: time of one as-of computation (and of the CLI with
loading), and each dimension's rank correlation with the simulator's latent truth."""

from __future__ import annotations

import time

import pandas as pd
from scipy.stats import spearmanr

from bench.context import BenchContext


def bench(ctx: BenchContext) -> dict:
    from ranking.contracts.frames import load_frames
    from ranking.scores import compute_scores_from_tables, end_of_data_ms
    from ranking.scores.compute import SCORE_COLUMNS, SCORE_TABLES
    from ranking.settings import ScoreSettings
    from training.evaluation.score_truth import truth_correlations

    out: dict = {}
    for scale in ctx.scales:
        if scale == "large":
            continue
        mall = ctx.mall(scale)
        m = ctx.run([*ctx.shelfrank(), "scores", "--data", str(mall), "--out",
                     str(ctx.work_dir / f"scores-{scale}.parquet")])
        out[f"scores_cli_{scale}_seconds"] = round(m.seconds, 2)
        out[f"scores_cli_{scale}_peak_mb"] = round(m.peak_mb, 1)
        tables = load_frames(mall, SCORE_TABLES, SCORE_COLUMNS)
        started = time.perf_counter()
        s = compute_scores_from_tables(tables, end_of_data_ms(tables), ScoreSettings())
        out[f"scores_compute_{scale}_seconds"] = round(time.perf_counter() - started, 2)
        truth_s = pd.read_parquet(mall / "truth" / "stores.parquet").set_index("store_id")
        truth_p = pd.read_parquet(mall / "truth" / "products.parquet").set_index("product_id")
        st, pr = s.stores.join(truth_s), s.products.join(truth_p)
        for dim, latent in (("store_logistics", "logistics_speed"), ("store_service", "service_quality"),
                            ("store_stability", "stability"), ("store_product_quality", "quality_control")):
            rho = spearmanr(st[dim], st[latent]).statistic
            out[f"scores_{scale}_spearman_{dim}_vs_{latent}"] = round(float(rho), 3)
        for dim, latent in (("product_quality", "quality"), ("product_information", "info_completeness")):
            rho = spearmanr(pr[dim], pr[latent]).statistic
            out[f"scores_{scale}_spearman_{dim}_vs_{latent}"] = round(float(rho), 3)
        for pair, rho in truth_correlations(s, mall).items():  # issue 29: creators, returning customers
            out[f"scores_{scale}_spearman_{pair}"] = round(rho, 3)
    return out
