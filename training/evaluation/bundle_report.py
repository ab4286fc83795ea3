"""Glue from an evaluation result to ``report.md`` with its plots (training.evaluation.report)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ranking.bundle import load_bundle
from training.data.mall_data import load_mall
from training.evaluation.evaluate import Evaluation, importance_frame
from training.evaluation.no_truth import lead_markdown
from training.evaluation.report import write_report
from training.learning.position_bias import estimate_position_bias

SAMPLE = 20_000


def position_bias_curves(data_dir: Path, max_position: int = 20) -> tuple[pd.DataFrame | None,
                                                                          pd.DataFrame | None, str | None]:
    """(estimated from the logged randomisation, true from the simulator) examination curves,
    and why there is no estimate (a mall that never randomised its pages) when there is none."""
    mall = load_mall(data_dir)
    try:
        estimated, missing = estimate_position_bias(mall["impressions"], mall["clicks"], max_position), None
    except ValueError as exc:
        estimated, missing = None, str(exc)
    truth_file = Path(data_dir) / "truth" / "position_bias.parquet"
    true = pd.read_parquet(truth_file) if truth_file.exists() else None
    return estimated, true, missing


def write_evaluation_report(out_dir: Path, result: Evaluation, bundle_path: Path, data_dir: Path,
                            extra_metrics: dict | None = None, no_truth: dict | None = None) -> Path:
    """``report.md`` of an evaluation: its metrics (plus ``extra_metrics``), the bundle's feature
    importance, the position-bias curves and a sample of each ranker's scores; on data without
    truth led by ``no_truth`` (:func:`training.evaluation.no_truth.no_truth_summary`)."""
    bundle = load_bundle(bundle_path)
    rng = np.random.default_rng(0)
    scores = result.scores
    n = len(next(iter(scores.values())))
    pick = rng.choice(n, size=min(n, SAMPLE), replace=False)
    samples = {name: np.asarray(s)[pick] for name, s in scores.items()}
    estimated, true, missing = position_bias_curves(Path(data_dir))
    metrics = dict(result.metrics)
    if extra_metrics:
        metrics.update(extra_metrics)
    lead = lead_markdown(no_truth) if no_truth else None
    return write_report(Path(out_dir), metrics, importance_frame(bundle), estimated, true, samples, lead,
                        missing)
