"""``train_bundle``: from a mall's logs to a verified bundle in ``models/``.

Split by day on the mall clock: the last ``test_days`` are held out for ``evaluate``,
the ``valid_days`` before them drive early stopping, and the days from the end of the
warm-up up to there train the model.

Two models (``training.model``):

* ``funnel`` (default, :mod:`training.funnel`): a click stage on every logged card and an
  order stage on every clicked card, early-stopped on the validation days' log-loss and
  merged into one LightGBM model; ``position_debias`` gives the click stage the measured
  examination curve as an offset.
* ``lambdarank``: LambdaRank on the graded labels, early-stopped on validation NDCG@10.
  Requests without a click carry no LambdaRank gradient and are dropped from training and
  validation (``training.keep_requests_without_clicks``). With ``position_debias``
  LightGBM's position-aware LambdaRank learns a per-position bias beside the ranking
  (``Dataset`` ``position``), so the trees explain relevance, not slot. Training on a Dask
  cluster (``training.dask_scheduler``) is always LambdaRank (``DaskLGBMRanker``), the
  cards left on the workers (:mod:`training.distributed_parts`).

Either way the bundle's ``valid_ndcg`` is NDCG@5/10/20 of the logged grades (gains
``training.label_gain``) on the validation days' randomised slots, so the two compare.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ranking.bundle import COMPILED_PART, write_bundle
from ranking.catalog import CATALOG_PART, CardCatalog
from ranking.model import COMPILED_FILE, compile_model, compiler_available
from ranking.recall.bundle_part import PART as RECALL_PART
from ranking.recall.bundle_part import write_recall_part
from ranking.recall.homepage import HomepageRecall
from ranking.recall.search import SearchRecall
from ranking.settings import Settings
from ranking.surfaces import SURFACE_CODES
from training.dataset import (
    DAY_MS,
    RankingFrame,
    TrainingDataError,
    build_ranking_frame,
    day_index,
    mall_day_zero_ms,
)
from training.funnel import funnel_params
from training.lambdarank import RankingData, train_lambdarank
from training.mall_data import MallTables, load_catalog, load_mall
from training.metrics import ndcg_at_k
from training.snapshot_builder import build_snapshot


@dataclass
class DaySplit:
    """Which mall days train, validate and test."""

    train: tuple[int, int]
    valid: tuple[int, int]
    test: tuple[int, int]

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in self.__dict__.items()}


def split_days(n_days: int, settings: Settings) -> DaySplit:
    t = settings.training
    test_lo = n_days - t.test_days
    valid_lo = test_lo - t.valid_days
    if valid_lo <= t.warmup_days:
        raise TrainingDataError(
            f"impressions: {n_days} logged day(s) are too few for warm-up {t.warmup_days} + validation "
            f"{t.valid_days} + test {t.test_days} days (settings training.*)"
        )
    return DaySplit((t.warmup_days, valid_lo), (valid_lo, test_lo), (test_lo, n_days))


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


def ranking_data(frame: RankingFrame, keep_without_clicks: bool) -> RankingData:
    """LightGBM-ready arrays of a frame (optionally only requests with a click)."""
    if not keep_without_clicks:
        frame = frame.select(frame.requests_with(frame.grade > 0))
    return RankingData(
        features=frame.features,
        label=frame.grade.astype(np.int32),
        group=frame.group_sizes(),
        position=(frame.position - 1).astype(np.int32),
        weight=None,
        feature_names=frame.feature_names,
    )


def randomised_rows(frame: RankingFrame) -> np.ndarray:
    """Rows in the shuffled slots of requests the logging policy randomised.

    :func:`training.position_bias.shuffled_requests` reads which requests were shuffled
    off the logged propensities. There, which product sits in which slot does not depend
    on the product, so clicks compare products without the logging policy's position
    advantage: an unbiased validation set for early stopping. Empty when the log has no
    randomisation.
    """
    import pandas as pd

    from training.position_bias import shuffled_requests

    below = frame.propensity < 1
    try:
        ids, _, _ = shuffled_requests(pd.DataFrame({"request_id": frame.request_id,
                                                    "propensity": frame.propensity}))
    except ValueError:
        return np.zeros(len(frame), dtype=bool)
    return below & np.isin(frame.request_id, ids)


def shuffle_within_requests(frame: RankingFrame, seed: int) -> RankingFrame:
    """Rows of each request in random order (requests stay contiguous and in order).

    Logged rows come in slot order and clicks favour the top slots, so a metric that breaks
    score ties by row order (LightGBM's does) would credit slot order to a model whose
    scores tie; shuffled rows make ties neutral.
    """
    sizes = frame.group_sizes()
    request_index = np.repeat(np.arange(len(sizes)), sizes)
    order = np.lexsort((np.random.default_rng(seed).random(len(frame)), request_index))
    return frame.select(order)


def validation_frame(frame: RankingFrame, split: DaySplit, settings: Settings) -> RankingFrame:
    """The validation days' cards (only their randomised slots with ``validate_on_randomised``),
    rows shuffled within each request."""
    days = frame.select((frame.day >= split.valid[0]) & (frame.day < split.valid[1]))
    if settings.training.validate_on_randomised:
        rows = randomised_rows(days)
        if rows.sum() >= 1000:
            days = days.select(rows)
    return shuffle_within_requests(days, settings.training.seed)


@dataclass
class TrainedModel:
    """A trained model, the text to write into the bundle, and what it learnt from."""

    booster: object
    text: str
    train_rows: int
    train_requests: int
    valid: RankingData
    facts: dict


def train_model(frame: RankingFrame, split: DaySplit, settings: Settings,
                position_debias: bool | None = None, progress: bool = True) -> TrainedModel:
    """Train on the split's train days, early-stop on its validation days (module doc)."""
    t = settings.training
    debias = t.position_debias if position_debias is None else position_debias
    train_frame = frame.select((frame.day >= split.train[0]) & (frame.day < split.train[1]))
    if t.model == "funnel" and not t.dask_scheduler:
        from training.funnel import train_funnel

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
        from training.distributed import train_on_dask

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
    out = {}
    for k in (5, 10, 20):
        per_request = ndcg_at_k(group, gain, scores, k)
        out[f"ndcg@{k}"] = float(np.nanmean(np.where(np.isnan(per_request), 1.0, per_request)))
    return out


def train_bundle(data_dir: str | Path, models_dir: str | Path, settings: Settings,
                 progress: bool = True, relabel: Callable[[RankingFrame], np.ndarray] | None = None,
                 kind: str = "ranker") -> tuple[Path, dict]:
    """Build features, train, and write a bundle with the serving snapshot; return its path.

    With ``training.dask_scheduler`` both feature building (one task per snapshot cut,
    :mod:`training.distributed_features`) and training (:mod:`training.distributed`) run on
    that Dask cluster, and the cards stay on its workers: only the validation days and a
    few counts come here (:mod:`training.distributed_parts`). The mall is loaded after
    training there, for the serving snapshot.

    ``relabel`` replaces the logged grades (e.g. to imitate the logging policy's order,
    :mod:`training.logging_policy`); on a Dask cluster it runs on each cut's part, so it
    must grade a card from its own request's rows. ``kind`` names what the bundle is in
    its manifest (``ranker``, the mall's; the model type is ``training.model``).
    """
    started = time.perf_counter()
    if settings.training.dask_scheduler:
        from training.distributed_parts import train_on_cluster

        search = build_search_recall(load_catalog(data_dir), settings)
        on = train_on_cluster(data_dir, settings, settings.training.dask_scheduler, search=search,
                              relabel=relabel, progress=progress)
        model, split, cards, days, label_counts = on.model, on.split, on.cards, on.days, on.label_counts
        feature_seconds, train_seconds = on.feature_seconds, on.train_seconds
        mall = load_mall(data_dir)  # for the serving snapshot, once the model is trained
    else:
        mall = load_mall(data_dir)
        split_days(logged_days(mall, settings), settings)  # too few days: say so before featurising
        search = build_search_recall(mall, settings)
        frame = build_ranking_frame(mall, settings, progress=progress, search=search)
        if relabel is not None:
            frame.grade = np.asarray(relabel(frame), dtype=frame.grade.dtype)
        days, cards = int(frame.day.max()) + 1, len(frame)
        label_counts = {str(g): int((frame.grade == g).sum()) for g in range(4)}
        split = split_days(days, settings)
        featurised = time.perf_counter()
        model = train_model(frame, split, settings, progress=progress)
        del frame
        feature_seconds, train_seconds = featurised - started, time.perf_counter() - featurised
    end_ms = _end_of_logs_ms(mall, settings)
    snapshot = build_snapshot(mall, end_ms, settings)
    homepage = build_homepage_recall(mall, snapshot, end_ms, settings)
    manifest = {
        "kind": kind,
        "data": _data_summary(mall, days, split, model, label_counts, settings),
        "training": {
            **model.facts,
            "params": (funnel_params(settings) if model.facts["model"] == "funnel"
                       else lightgbm_params(settings)),
            "position_debias": settings.training.position_debias,
            "feature_seconds": round(feature_seconds, 2),
            "train_seconds": round(train_seconds, 2),
            "rows_per_second_features": round(cards / max(feature_seconds, 1e-9)),
        },
        "settings": settings.model_dump(mode="json"),
    }
    catalog = CardCatalog.from_frames(mall["products"][["product_id", "title"]],
                                      mall["stores"][["store_id", "name"]])
    manifest["recall"] = {"search": search.manifest, "homepage_quotas": homepage.quotas}
    parts = {CATALOG_PART: catalog.save,
             RECALL_PART: lambda folder: write_recall_part(folder, search, homepage)}
    if settings.training.compile_scorer and compiler_available():
        def compile_trees(folder: Path) -> None:
            seconds = compile_model(folder.parent / "model.txt", folder / COMPILED_FILE)
            manifest["training"]["compile_seconds"] = round(seconds, 2)

        parts[COMPILED_PART] = compile_trees
    manifest["scorer"] = "lleaves" if COMPILED_PART in parts else "lightgbm"
    path = write_bundle(models_dir, model.text, snapshot, manifest, parts=parts)
    return path, manifest


def build_search_recall(mall: MallTables, settings: Settings) -> SearchRecall:
    """Search recall over the catalog (titles, brands, categories): no events, no leakage."""
    r = settings.recall
    return SearchRecall.build(mall["products"], mall["brands"], mall["categories"], dim=r.dense_dim,
                              exact_max=r.exact_index_max_products, seed=settings.training.seed,
                              k1=r.bm25_k1, b=r.bm25_b)


def build_homepage_recall(mall: MallTables, snapshot, as_of_ms: int, settings: Settings) -> HomepageRecall:
    """Homepage recall fitted on the whole log (it serves after the log ends)."""
    cats = mall["categories"]
    consumable = cats[(cats.level == 1) & cats.consumable].category_id.to_numpy()
    leaves = snapshot.leaf_of_category(consumable.astype(np.int64))
    r = settings.recall
    return HomepageRecall.fit(mall.tables, as_of_ms, snapshot, r.homepage_quotas,
                              consumable_leaves=leaves[leaves >= 0], dim=r.item_embedding_dim,
                              recent_items=r.recent_items, seed=settings.training.seed,
                              source_weights=r.homepage_source_weights)


def logged_days(mall: MallTables, settings: Settings) -> int:
    """Mall days from the first impression's to the last one's (0 without impressions)."""
    if len(mall["impressions"]) == 0:
        return 0
    zero = mall_day_zero_ms(mall, settings.mall.timezone)
    return int(day_index(np.array([mall.last_ms]), zero)[0]) + 1


def _end_of_logs_ms(mall: MallTables, settings: Settings) -> int:
    zero = mall_day_zero_ms(mall, settings.mall.timezone)
    last_day = (mall.last_ms - zero) // DAY_MS
    return int(zero + (last_day + 1) * DAY_MS)


def _data_summary(mall: MallTables, days: int, split: DaySplit, model: TrainedModel,
                  label_counts: dict[str, int], settings: Settings) -> dict:
    return {
        "data_dir": str(mall.data_dir),
        "rows": {name: len(t) for name, t in mall.tables.items()},
        "days": days,
        "split_days": split.as_dict(),
        "train_rows": model.train_rows,
        "train_requests": model.train_requests,
        "valid_rows": len(model.valid.label),
        "valid_requests": len(model.valid.group),
        "label_counts": label_counts,
        "train_cards_by_surface": train_cards_by_surface(mall, split, settings),
    }


def train_cards_by_surface(mall: MallTables, split: DaySplit, settings: Settings) -> dict[str, int]:
    """Logged cards of the training days per surface: a surface with none (say, a mall that
    logged no search) is one the model never learnt from, though the bundle still ranks it."""
    imp = mall["impressions"]
    zero = mall_day_zero_ms(mall, settings.mall.timezone)
    ts = imp.timestamp.to_numpy()
    on = (ts >= zero + split.train[0] * DAY_MS) & (ts < zero + split.train[1] * DAY_MS)
    # counted on the column as loaded (categorical: a byte a row); its numpy form was an object
    # array of strings, the peak of the whole large-mall run (bench.train_memory, docs/scaling.md)
    counts = imp.surface.array[on].value_counts()
    return {name: int(counts.get(name, 0)) for name in SURFACE_CODES}
