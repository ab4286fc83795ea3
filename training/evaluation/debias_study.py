"""Does position debiasing help? The same model trained with and without it, scored by the oracle.

Trains the settings' model (``training.model``) twice on the same training and validation
cards — once debiased, once not — and reports each model's NDCG@10 against the
simulator's oracle (true purchase probability) on the test days, next to the logging
policy's. Debiased means LightGBM's position-aware objective (``Dataset(position=...)``)
for LambdaRank, and the click stage's examination offset for the funnel. Both runs use the
settings' hyperparameters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ranking.settings import Settings
from training.evaluation.metrics import mean_ndcg_at_k
from training.learning.dataset import RankingFrame
from training.learning.day_split import DaySplit
from training.learning.fit import train_model


def bundle_debias_study(bundle_path: Path, data_dir: Path, settings: Settings, frame_days: RankingFrame,
                        oracle_gain: np.ndarray, progress: bool = False) -> dict:
    """:func:`debias_study` on a bundle's own day split: the mall's cards rebuilt with the
    bundle's search recall, scored on ``frame_days`` (an evaluation's test-day cards) by
    their oracle gain (a simulated mall's)."""
    from ranking.bundle import load_bundle
    from ranking.recall.bundle_part import load_search_recall
    from training.data.mall_data import load_mall
    from training.learning.dataset import build_ranking_frame

    loaded = load_bundle(bundle_path)
    split = DaySplit(**{k: tuple(v) for k, v in loaded.manifest["data"]["split_days"].items()})
    frame = build_ranking_frame(load_mall(data_dir), settings, progress=progress,
                                search=load_search_recall(loaded))
    return debias_study(frame, frame_days, oracle_gain, split, settings, progress)


def debias_study(frame: RankingFrame, test: RankingFrame, oracle_gain: np.ndarray, split: DaySplit,
                 settings: Settings, progress: bool = False) -> dict:
    out: dict[str, float | int] = {}
    group = test.request_id
    for name, debias in (("with_debiasing", True), ("without_debiasing", False)):
        booster = train_model(frame, split, settings, position_debias=debias, progress=progress).booster
        scores = booster.predict(test.features, num_threads=settings.training.num_threads)
        out[f"oracle_ndcg@10_{name}"] = mean_ndcg_at_k(group, oracle_gain, scores, 10)
        out[f"trees_{name}"] = booster.num_trees()
    out["oracle_ndcg@10_logging_policy"] = mean_ndcg_at_k(group, oracle_gain,
                                                          -test.position.astype(np.float64), 10)
    out["gain_from_debiasing"] = (out["oracle_ndcg@10_with_debiasing"]
                                  - out["oracle_ndcg@10_without_debiasing"])
    return out
