"""Training on a Dask cluster with the cards left on the workers: one held part per cut.

The feature tasks (:func:`training.dask.features.submit_cuts`, one per weekly
snapshot cut) return their parts into worker memory as futures; nothing is gathered.
Then, per part and on the worker that holds it:

1. :func:`hold_part` sorts the part by request and position (a request lives in one day,
   so in one cut: sorting each part is sorting the frame) and applies the ``relabel`` hook;
2. :func:`part_facts` sends back what the split and the manifest need: rows, last day,
   cards per grade (a few integers);
3. the driver splits the days exactly as single-machine training does
   (:func:`training.learning.day_split.split_days` on the last day of all parts), and each part is cut
   into its train days (:func:`train_days`: :func:`training.learning.day_split.ranking_data`, so
   ``keep_requests_without_clicks`` drops whole requests) and its validation days
   (:func:`valid_days`). Test days stay on the workers and are dropped with the part.

Only the validation days come to the driver: sorted as the gathered frame sorts them, they
go through :func:`training.learning.day_split.validation_frame` (randomised slots, rows shuffled within
requests) unchanged, so validation NDCG is the gathered path's. The train days become Dask
arrays with one chunk per part (:func:`training.dask.lambdarank.train_on_dask_parts`); every
request lies in one chunk because it lies in one part.

``relabel`` runs per part on the workers, so it must grade a card from its own request's
rows (``training.experiments.logging_policy.position_grades`` grades a card from its slot); a hook
that needed the whole frame would need the gathered path
(:func:`training.dask.features.build_ranking_frame_on_dask` and
:func:`training.learning.fit.train_model`), which no caller has today.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ranking.features import feature_names
from ranking.settings import Settings
from training.learning.dataset import RankingFrame, sort_frame
from training.learning.day_split import DaySplit, ranking_data, split_days, validation_frame
from training.learning.fit import TrainedModel, lightgbm_params, validation_ndcg
from training.learning.lambdarank import RankingData

GRADES = 4


@dataclass
class PartFacts:
    """What the driver learns of a held part: a few integers, never its rows."""

    rows: int
    last_day: int  # -1 for an empty part
    grade_counts: np.ndarray  # cards per grade 0..3


@dataclass
class ClusterTraining:
    """A model trained from worker-held parts, and the facts the bundle manifest needs."""

    model: TrainedModel
    split: DaySplit
    days: int
    cards: int
    label_counts: dict[str, int]
    feature_seconds: float
    train_seconds: float


def hold_part(part: RankingFrame | None,
              relabel: Callable[[RankingFrame], np.ndarray] | None) -> RankingFrame | None:
    """On a worker: the cut's part sorted by request then position, relabelled if asked."""
    if part is None:
        return None
    part = sort_frame([part], part.feature_names)
    if relabel is not None:
        part.grade = np.asarray(relabel(part), dtype=part.grade.dtype)
    return part


def part_facts(part: RankingFrame | None) -> PartFacts:
    """On a worker: a held part's rows, last day and cards per grade."""
    if part is None or len(part) == 0:
        return PartFacts(0, -1, np.zeros(GRADES, np.int64))
    return PartFacts(len(part), int(part.day.max()),
                     np.bincount(part.grade.astype(np.int64), minlength=GRADES)[:GRADES])


def _days(part: RankingFrame, days: tuple[int, int]) -> RankingFrame:
    return part.select((part.day >= days[0]) & (part.day < days[1]))


def train_days(part: RankingFrame | None, split: DaySplit, keep_without_clicks: bool) -> RankingData | None:
    """On a worker: the LightGBM arrays of a part's train days (None when it has none)."""
    if part is None:
        return None
    data = ranking_data(_days(part, split.train), keep_without_clicks)
    return data if len(data) else None


def valid_days(part: RankingFrame | None, split: DaySplit) -> RankingFrame | None:
    """On a worker: a part's validation-day cards (None when it has none)."""
    if part is None:
        return None
    days = _days(part, split.valid)
    return days if len(days) else None


def data_shape(data: RankingData | None) -> tuple[int, int]:
    """On a worker: (rows, requests) of a part's train days."""
    return (0, 0) if data is None else (len(data), len(data.group))


def _key(name: str) -> str:
    return f"shelfrank-{name}-{os.urandom(4).hex()}"


def train_on_cluster(data_dir: str | Path, settings: Settings, scheduler: Any, search=None,
                     relabel: Callable[[RankingFrame], np.ndarray] | None = None,
                     progress: bool = True) -> ClusterTraining:
    """Features and LambdaRank on the Dask cluster, the training cards never leaving the
    workers (module docstring); the same model facts as :func:`training.learning.fit.train_model`."""
    from distributed import as_completed

    from training.dask.features import check_workers_see, connect, submit_cuts
    from training.dask.lambdarank import train_on_dask_parts

    started = time.perf_counter()
    data_dir = Path(data_dir).resolve()
    t = settings.training
    client = connect(scheduler)
    try:
        check_workers_see(client, data_dir)
        cuts = submit_cuts(client, data_dir, settings, search=search)
        held = [client.submit(hold_part, cut, relabel, key=_key("held")) for cut in cuts]
        del cuts  # the held parts replace them on the workers
        facts_of = [client.submit(part_facts, part, key=_key("facts")) for part in held]
        index = {f.key: k for k, f in enumerate(facts_of)}
        facts: list[PartFacts | None] = [None] * len(held)
        bar = tqdm(total=len(held), desc="building features (dask, kept on the workers)",
                   unit="cut", disable=not progress)
        for future in as_completed(facts_of):
            facts[index[future.key]] = future.result()
            bar.set_postfix(cards=f"{sum(f.rows for f in facts if f is not None):,}")
            bar.update(1)
        bar.close()
        cards = sum(f.rows for f in facts)
        if cards == 0:
            raise ValueError("no cards to featurise")
        featurised = time.perf_counter()
        days = max(f.last_day for f in facts) + 1
        split = split_days(days, settings)
        keep = t.keep_requests_without_clicks
        train = [client.submit(train_days, part, split, keep, key=_key("train")) for part in held]
        shapes = client.gather([client.submit(data_shape, d, key=_key("shape")) for d in train])
        valid_parts = [p for p in client.gather(
            [client.submit(valid_days, part, split, key=_key("valid")) for part in held]) if p is not None]
        del held  # each worker frees its parts; only the train days stay
        names = feature_names()
        if not valid_parts:
            raise ValueError(f"no cards on the validation days {split.valid}")
        valid = ranking_data(validation_frame(sort_frame(valid_parts, names), split, settings), keep)
        chunks = [(d, rows, groups) for d, (rows, groups) in zip(train, shapes, strict=True) if rows]
        booster = train_on_dask_parts(chunks, len(names), names, lightgbm_params(settings),
                                      t.num_boost_round, client)
        del train, chunks
        model_facts = {"model": "lambdarank", "best_iteration": booster.best_iteration,
                       "num_trees": booster.num_trees(),
                       "valid_ndcg": validation_ndcg(booster, valid, settings)}
        model = TrainedModel(booster, booster.model_to_string(), sum(s[0] for s in shapes),
                             sum(s[1] for s in shapes), valid, model_facts)
        grades = np.sum([f.grade_counts for f in facts], axis=0)
        return ClusterTraining(model, split, days, cards, {str(g): int(grades[g]) for g in range(GRADES)},
                               featurised - started, time.perf_counter() - featurised)
    finally:
        if client is not scheduler:
            client.close()
