"""``train_bundle``: from a mall's logs to a verified bundle in ``models/``; it only orchestrates.

Loads the mall, builds the ranking frame (:mod:`training.learning.dataset`), splits it by
day (:mod:`training.learning.day_split`), trains the settings' model on the split
(:func:`training.learning.fit.train_model`: the purchase funnel by default, or LambdaRank),
fits search and homepage recall and writes the bundle with the serving snapshot. With
``training.dask_scheduler`` features and training run on that Dask cluster, the cards left
on the workers (:mod:`training.dask.parts`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ranking.bundle import COMPILED_PART, write_bundle
from ranking.catalog import CATALOG_PART, CardCatalog
from ranking.model import compile_model, compiler_available
from ranking.recall.bundle_part import PART as RECALL_PART
from ranking.recall.bundle_part import write_recall_part
from ranking.recall.homepage import HomepageRecall
from ranking.recall.search import SearchRecall
from ranking.settings import Settings
from ranking.surfaces import SURFACE_CODES
from training.data.mall_data import MallTables, load_catalog, load_mall
from training.learning.dataset import (
    DAY_MS,
    RankingFrame,
    build_ranking_frame,
    mall_day_zero_ms,
)
from training.learning.day_split import DaySplit, logged_days, split_days
from training.learning.fit import TrainedModel, lightgbm_params, train_model
from training.learning.funnel import funnel_params
from training.learning.snapshot_builder import build_snapshot


def train_bundle(data_dir: str | Path, models_dir: str | Path, settings: Settings,
                 progress: bool = True, relabel: Callable[[RankingFrame], np.ndarray] | None = None,
                 kind: str = "ranker") -> tuple[Path, dict]:
    """Build features, train, and write a bundle with the serving snapshot; return its path.

    With ``training.dask_scheduler`` both feature building (one task per snapshot cut,
    :mod:`training.dask.features`) and training (:mod:`training.dask.lambdarank`) run on
    that Dask cluster, and the cards stay on its workers: only the validation days and a
    few counts come here (:mod:`training.dask.parts`). The mall is loaded after
    training there, for the serving snapshot.

    ``relabel`` replaces the logged grades (e.g. to imitate the logging policy's order,
    :mod:`training.experiments.logging_policy`); on a Dask cluster it runs on each cut's part, so it
    must grade a card from its own request's rows. ``kind`` names what the bundle is in
    its manifest (``ranker``, the mall's; the model type is ``training.model``).
    """
    started = time.perf_counter()
    if settings.training.dask_scheduler:
        from training.dask.parts import train_on_cluster

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
    end_ms = end_of_logs_ms(mall, settings)
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
            seconds, _ = compile_model(folder.parent / "model.txt", folder)
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
                              source_weights=r.homepage_source_weights, similar_lists=r.similar_lists,
                              threads=settings.training.num_threads, personal_lists_mb=r.personal_lists_mb)


def end_of_logs_ms(mall: MallTables, settings: Settings) -> int:
    """The cut a bundle's snapshot is as of: the end (mall midnight) of the last logged day."""
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
