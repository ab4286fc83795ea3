"""Offline evaluation of a bundle on held-out days, against baselines and the oracle.

Every logged request of the test days is re-ranked by each ranker over the cards it
showed. Gains: on a simulated mall, the **oracle** gain of a card is its true purchase
probability once examined (``Truth.purchase_probability``), so NDCG measures expected
purchases and the oracle's own ranking scores exactly 1; ``fraction_of_oracle_ndcg@10``
is the model's NDCG over the oracle's. MRR and MAP use the logged clicks (relevant =
clicked or better), and ``logged_ndcg@10`` the logged grades — both biased toward what
the logging policy placed high, which is why the oracle is the primary yardstick.

Rankers: ``model`` (the bundle), ``oracle``, ``logging_policy`` (the logged order),
``popularity`` (recent sales velocity), ``product_score`` (the mall's product score
alone), ``lexical`` (BM25, search only) and ``random``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.bundle import Bundle, load_bundle
from ranking.recall.bundle_part import load_search_recall
from ranking.settings import Settings
from ranking.surfaces import SURFACES
from training.data.mall_data import load_mall
from training.evaluation.metrics import average_precision, mean_ndcg_at_k, mrr
from training.learning.dataset import RankingFrame, TrainingDataError, build_ranking_frame

SURFACE_NAMES = dict(enumerate(SURFACES))
CUTOFFS = (5, 10, 20)


def ranker_scores(frame: RankingFrame, model_scores: np.ndarray, oracle: np.ndarray | None,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Score arrays (higher = ranked first) of every ranker for the frame's rows."""
    col = {n: i for i, n in enumerate(frame.feature_names)}
    rng = np.random.default_rng(seed)
    scores = {
        "model": model_scores,
        "logging_policy": -frame.position.astype(np.float64),
        "popularity": np.nan_to_num(frame.features[:, col["sales_velocity"]], nan=-1.0),
        "product_score": np.nan_to_num(frame.features[:, col["product_score"]], nan=-1.0),
        "lexical": np.nan_to_num(frame.features[:, col["lexical_score"]], nan=-1.0),
        "random": rng.random(len(frame)),
    }
    if oracle is not None:
        scores["oracle"] = oracle
    return scores


def metric_table(frame: RankingFrame, scores: dict[str, np.ndarray], gain: np.ndarray | None) -> dict:
    """Per ranker: NDCG@5/10/20 (oracle gain), MRR, MAP, logged NDCG@10 (means over requests)."""
    group = frame.request_id
    clicked = (frame.grade > 0).astype(np.float64)
    graded = frame.grade.astype(np.float64)
    out: dict[str, dict[str, float]] = {}
    for name, s in scores.items():
        row: dict[str, float] = {}
        if gain is not None:
            for k in CUTOFFS:
                row[f"ndcg@{k}"] = mean_ndcg_at_k(group, gain, s, k)
        row["mrr"] = float(np.nanmean(mrr(group, clicked, s)))
        row["map"] = float(np.nanmean(average_precision(group, clicked, s)))
        row["logged_ndcg@10"] = mean_ndcg_at_k(group, graded, s, 10)
        out[name] = row
    return out


@dataclass
class Evaluation:
    """What :func:`evaluate_bundle` measured, and the cards and scores it measured them on."""

    metrics: dict  # JSON-ready: bundle, data_dir, test_days, requests, cards, surfaces, NDCG
    frame: RankingFrame  # the test days' logged cards
    scores: dict[str, np.ndarray]  # per ranker (model, baselines, oracle on a simulated mall)

    @property
    def oracle_gain(self) -> np.ndarray | None:
        """Each card's true purchase probability (None off a simulated mall)."""
        return self.scores.get("oracle")


def evaluate_bundle(bundle_path: str | Path, data_dir: str | Path, settings: Settings,
                    progress: bool = True, bundle: Bundle | None = None) -> Evaluation:
    """Metrics of the bundle and the baselines on the bundle's test days (see module doc)."""
    bundle = bundle or load_bundle(bundle_path)
    split = bundle.manifest["data"]["split_days"]
    mall = load_mall(data_dir)
    search = load_search_recall(bundle)
    try:
        frame = build_ranking_frame(mall, settings, progress=progress, days=tuple(split["test"]),
                                    search=search)
    except TrainingDataError as exc:  # raised for a frame with no card
        raise TrainingDataError(f"{data_dir}: impressions have no logged card on the bundle's test days "
                                f"{split['test']}: is this the mall it was trained on?") from exc
    model_scores = bundle.model.score(frame.features, num_threads=settings.training.num_threads)
    oracle = _oracle_gain(Path(data_dir), frame)
    scores = ranker_scores(frame, model_scores, oracle)
    if oracle is None:
        scores.pop("oracle", None)
    surfaces: dict[str, dict] = {"all": metric_table(frame, scores, oracle)}
    for code, name in SURFACE_NAMES.items():
        mask = frame.surface == code
        if not mask.any():
            continue
        sub_scores = {k: v[mask] for k, v in scores.items() if not (k == "lexical" and code != 0)}
        surfaces[name] = metric_table(frame.select(mask), sub_scores,
                                      None if oracle is None else oracle[mask])
    result: dict = {
        "bundle": bundle.version,
        "data_dir": str(data_dir),
        "test_days": split["test"],
        "requests": len(np.unique(frame.request_id)),
        "cards": len(frame),
        "surfaces": surfaces,
    }
    overall = surfaces["all"]
    if oracle is not None:
        result["ndcg@10"] = {name: m["ndcg@10"] for name, m in overall.items()}
        result["fraction_of_oracle_ndcg@10"] = overall["model"]["ndcg@10"] / overall["oracle"]["ndcg@10"]
    result["logged_ndcg@10"] = {name: m["logged_ndcg@10"] for name, m in overall.items()}
    return Evaluation(result, frame, scores)


def _oracle_gain(data_dir: Path, frame: RankingFrame) -> np.ndarray | None:
    if not (data_dir / "truth").is_dir():
        return None
    from training.simulator import Truth
    from training.simulator.truth import TruthMismatchError

    try:
        truth = Truth.load(data_dir)
    except TruthMismatchError as exc:
        raise TrainingDataError(f"{exc}; move truth/ away to evaluate without the oracle") from exc
    return truth.purchase_probability(frame.user_id, frame.product_id, frame.hour,
                                      frame.surface.astype(np.int64), frame.query_id)


def importance_frame(bundle: Bundle) -> pd.DataFrame:
    from ranking.features import schema

    groups = {r["name"]: r["group"] for r in schema()}
    imp = bundle.model.importance()
    return pd.DataFrame(
        {"feature": list(imp), "gain": list(imp.values()), "group": [groups.get(f) for f in imp]}
    ).sort_values("gain", ascending=False, ignore_index=True)
