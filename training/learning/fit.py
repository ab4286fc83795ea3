"""``train_model``: one ranking model trained on a day split, and what it learnt from.

Two models (``training.model``):

* ``funnel`` (default, :mod:`training.learning.funnel`): a click stage on every logged card
  and an order stage on every clicked card, early-stopped on the validation days' log-loss
  and merged into one LightGBM model; ``position_debias`` gives the click stage the
  measured examination curve as an offset.
* ``lambdarank``: LambdaRank on the graded labels, early-stopped on validation NDCG@10.
  Requests without a click carry no LambdaRank gradient and are dropped from training and
  validation (``training.keep_requests_without_clicks``). With ``position_debias``
  LightGBM's position-aware LambdaRank learns a per-position bias beside the ranking
  (``Dataset`` ``position``), so the trees explain relevance, not slot. Training on a Dask
  cluster (``training.dask_scheduler``) is always LambdaRank (``DaskLGBMRanker``,
  :mod:`training.dask.lambdarank`).

Either way ``valid_ndcg`` is NDCG@5/10/20 of the logged grades (gains
``training.label_gain``) on the validation days' randomised slots, so the two compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.settings import Settings
from training.evaluation.metrics import mean_ndcg_at_k
from training.learning.dataset import RankingFrame, TrainingDataError
from training.learning.day_split import DaySplit, ranking_data, validation_frame
from training.learning.lambdarank import RankingData, train_lambdarank


@dataclass
class TrainedModel:
    """A trained model, the text to write into the bundle, and what it learnt from."""

    booster: object
    text: str
    train_rows: int
    train_requests: int
    valid: RankingData
    facts: dict


def lightgbm_params(settings: Settings) -> dict:
    t = settings.training
    return {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [5, 10, 20],
        "label_gain": t.label_gain,
        "num_leaves": t.num_leaves,
        "learning_rate": t.learning_rate,
        "min_data_in_leaf": t.min_data_in_leaf,
        "feature_fraction": t.feature_fraction,
        "lambdarank_truncation_level": t.lambdarank_truncation_level,
        "num_threads": t.num_threads,
        "seed": t.seed,
        "deterministic": True,
        "verbosity": -1,
    }


def train_model(frame: RankingFrame, split: DaySplit, settings: Settings,
                position_debias: bool | None = None, progress: bool = True) -> TrainedModel:
    """Train on the split's train days, early-stop on its validation days (module doc)."""
    t = settings.training
    debias = t.position_debias if position_debias is None else position_debias
    train_frame = frame.select((frame.day >= split.train[0]) & (frame.day < split.train[1]))
    if t.model == "funnel" and not t.dask_scheduler:
        from training.learning.funnel import train_funnel

        valid_days = frame.select((frame.day >= split.valid[0]) & (frame.day < split.valid[1]))
        funnel = train_funnel(train_frame, valid_days, settings,
                              position_debias=debias, progress=progress)
        facts = {"model": "funnel", "stages": funnel.stages,
                 "num_trees": funnel.booster.num_trees(), "best_iteration": None}
        valid = ranking_data(validation_frame(frame, split, settings), t.keep_requests_without_clicks)
        facts["valid_ndcg"] = validation_ndcg(funnel.booster, valid, settings)
        return TrainedModel(funnel.booster, funnel.text, len(train_frame),
                            len(train_frame.group_sizes()), valid, facts)
    keep = t.keep_requests_without_clicks
    train = ranking_data(train_frame, keep)
    valid = ranking_data(validation_frame(frame, split, settings), keep)
    for name, data, days in (("training", train, split.train), ("validation", valid, split.valid)):
        if len(data) == 0:
            raise TrainingDataError(
                f"clicks: no request of the {name} days {list(days)} has one, and LambdaRank learns only "
                "from requests with a click (training.keep_requests_without_clicks)")
    if t.dask_scheduler:
        from training.dask.lambdarank import train_on_dask

        booster = train_on_dask(train, lightgbm_params(settings), t.num_boost_round, t.dask_scheduler)
    else:
        booster = train_lambdarank(
            train, valid, lightgbm_params(settings), num_boost_round=t.num_boost_round,
            early_stopping_rounds=t.early_stopping_rounds, position_debias=debias, progress=progress,
        )
    facts = {
        "model": "lambdarank",
        "best_iteration": booster.best_iteration,
        "num_trees": booster.num_trees(),
        "valid_ndcg": {k: float(v) for k, v in booster.best_score.get("valid", {}).items()},
    }
    if t.dask_scheduler:  # the Dask ranker has no validation set: score it here
        facts["valid_ndcg"] = validation_ndcg(booster, valid, settings)
    return TrainedModel(booster, booster.model_to_string(), len(train), len(train.group), valid, facts)


def validation_ndcg(booster, valid: RankingData, settings: Settings) -> dict[str, float]:
    """NDCG@5/10/20 of the logged grades (gains ``label_gain``) the way LightGBM reports it."""
    if len(valid) == 0:
        return {}
    group = np.repeat(np.arange(len(valid.group)), valid.group)
    gain = np.asarray(settings.training.label_gain)[valid.label]
    scores = booster.predict(valid.features, num_threads=settings.training.num_threads)
    return {f"ndcg@{k}": mean_ndcg_at_k(group, gain, scores, k, undefined=1.0) for k in (5, 10, 20)}


