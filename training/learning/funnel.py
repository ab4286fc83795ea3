"""The purchase-funnel ranker: P(click | examined) x P(order | click), as one LightGBM model.

What the mall wants at the top of a shelf is what shoppers will buy once they look at it
(the evaluation's oracle gain is exactly that, ``P(order | examined)``). LambdaRank on the
logged grades learns it only from requests with a click and from orders, which are rare:
0.878 of the oracle's NDCG@10 at default scale even with a steep label gain
(docs/ltr_evaluation.md). The funnel learns each step from every row that informs it:

* **click stage** (binary log-loss) on every logged card of the training days, clicked or
  not. Position bias enters as a fixed offset, ``log examination(slot, surface)``, from the
  curve measured on the logging policy's randomised blocks
  (:func:`training.learning.position_bias.estimate_position_bias`): ``P(click) = sigmoid(f(x) +
  log e(slot))``, about ``e(slot) x sigmoid(f(x))`` for the small click rates of a shelf,
  so the trees learn how attractive a card is *as if shown in slot 1*. No position
  feature exists, so serving needs none. Unclicked cards are sampled
  (``funnel_negative_share``) and re-weighted by its inverse, which keeps the
  probabilities calibrated and the stage about 3x cheaper.
* **order stage** (binary log-loss) on every clicked card: ordered or not.

Both stop early on the validation days' log-loss. The ranking score is the **sum of the
two logits**, ``f_click(x) + f_order(x)``, which orders cards like ``log P(click) + log
P(order | click)`` for small probabilities (measured on the default mall: the same oracle
NDCG@10 to 0.001). A sum of two tree ensembles is one tree ensemble, so
:func:`merge_models` writes the two boosters' trees into one LightGBM text model: serving,
the compiled scorer (lleaves) and explanations (``pred_contrib``, now in log-odds of a
purchase) are unchanged. The stages' own numbers go to the bundle manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from ranking.settings import Settings
from ranking.surfaces import SURFACE_NAMES
from training.learning.dataset import RankingFrame, TrainingDataError
from training.learning.lambdarank import VALID_NAME, round_progress
from training.learning.position_bias import estimate_from_frame, propensity_weights


@dataclass
class FunnelModel:
    """The merged model (raw score = click logit + order logit) and each stage's facts.

    ``text`` is the model to write: LightGBM's own ``model_to_string`` drops the
    ``objective=custom`` line that the compiled scorer (lleaves) needs.
    """

    booster: lgb.Booster
    text: str
    stages: dict[str, dict]


def funnel_params(settings: Settings) -> dict:
    t = settings.training
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        **t.funnel.lightgbm_params(),
        "feature_fraction": t.feature_fraction,
        "num_threads": t.num_threads,
        "seed": t.seed,
        "deterministic": True,
        "verbosity": -1,
    }


_NO_DEBIAS = ("impressions: position debiasing (training.position_debias) needs the logging "
              "policy's randomised slots: {}; train with --no-position-debias")


def _examination_curve(train: RankingFrame) -> pd.DataFrame:
    """The training days' examination curve, or a :class:`TrainingDataError` saying why the
    log does not identify one (no randomised requests, a shuffle it does not understand)."""
    try:
        return estimate_from_frame(train)
    except ValueError as exc:
        raise TrainingDataError(_NO_DEBIAS.format(exc)) from exc


def examination_offset(frame: RankingFrame, curve: pd.DataFrame | None) -> np.ndarray:
    """``log examination`` of each card's slot on its surface (0 without a curve).

    A surface whose randomised slots drew no click at slot 1 has no curve: that is a
    :class:`TrainingDataError` (the log cannot say how much each slot is examined there).
    """
    if curve is None or len(frame) == 0:
        return np.zeros(len(frame))
    try:
        weights = propensity_weights(frame.position, curve, SURFACE_NAMES[frame.surface.astype(np.int64)])
    except ValueError as exc:
        raise TrainingDataError(_NO_DEBIAS.format(exc)) from exc
    return -np.log(weights)


def _negative_sample(grade: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows kept (every click, ``share`` of the rest) and their weights (1 / share for the rest)."""
    clicked = grade >= 1
    if share >= 1.0:
        return np.ones(len(grade), dtype=bool), np.ones(len(grade))
    keep = clicked | (np.random.default_rng(seed).random(len(grade)) < share)
    return keep, np.where(clicked[keep], 1.0, 1.0 / share)


def _train_stage(label: str, params: dict, train: tuple, valid: tuple, feature_names: list[str],
                 rounds: int, patience: int, progress: bool) -> tuple[lgb.Booster, dict]:
    """One binary stage; ``train`` and ``valid`` are (features, label, weight, offset)."""
    x, y, w, offset = train
    train_set = lgb.Dataset(x, y, weight=w, init_score=offset, feature_name=feature_names,
                            free_raw_data=True)
    vx, vy, vw, vo = valid
    valid_set = lgb.Dataset(vx, vy, weight=vw, init_score=vo, reference=train_set)
    callbacks = [lgb.early_stopping(patience, verbose=False)]
    bar = None
    if progress:
        bar, update = round_progress(rounds, f"funnel: {label} stage", "binary_logloss")
        callbacks.append(update)
    try:
        booster = lgb.train(params, train_set, rounds, valid_sets=[valid_set], valid_names=[VALID_NAME],
                            callbacks=callbacks)
    finally:
        if bar is not None:
            bar.close()
    best = booster.best_iteration or booster.current_iteration()
    facts = {
        "rows": len(y),
        "positives": int(y.sum()),
        "best_iteration": int(best),
        "valid_logloss": float(booster.best_score[VALID_NAME]["binary_logloss"]),
    }
    return booster, facts


def train_funnel(train: RankingFrame, valid: RankingFrame, settings: Settings,
                 position_debias: bool = True, progress: bool = True) -> FunnelModel:
    """Train both stages on ``train``, stop each early on ``valid`` (whole validation days)."""
    t = settings.training
    if not (train.grade >= 1).any() or not (train.grade == 3).any():
        missing = "clicks" if not (train.grade >= 1).any() else "orders"
        raise TrainingDataError(
            f"{missing}: none on the training days' logged cards, so the funnel (training.model) "
            "cannot learn" + ("; training.model=lambdarank learns from clicks alone"
                              if missing == "orders" else ""))
    params = funnel_params(settings)
    names = list(train.feature_names)
    curve = _examination_curve(train) if position_debias else None
    stages: dict[str, dict] = {}
    rounds, patience = t.funnel.num_boost_round, t.early_stopping_rounds

    keep, weight = _negative_sample(train.grade, t.funnel_negative_share, t.seed)
    vkeep, vweight = _negative_sample(valid.grade, t.funnel_negative_share, t.seed + 1)
    tr, va = train.select(keep), valid.select(vkeep)
    click, stages["click"] = _train_stage(
        "click", params,
        (tr.features, (tr.grade >= 1).astype(np.float32), weight, examination_offset(tr, curve)),
        (va.features, (va.grade >= 1).astype(np.float32), vweight, examination_offset(va, curve)),
        names, rounds, patience, progress)
    del tr, va
    tr, va = train.select(train.grade >= 1), valid.select(valid.grade >= 1)
    order, stages["order"] = _train_stage(
        "order", params, (tr.features, (tr.grade == 3).astype(np.float32), None, None),
        (va.features, (va.grade == 3).astype(np.float32), None, None),
        names, rounds, patience, progress)
    merged = merge_models([click.model_to_string(num_iteration=stages["click"]["best_iteration"]),
                           order.model_to_string(num_iteration=stages["order"]["best_iteration"])])
    return FunnelModel(lgb.Booster(model_str=merged), merged, stages)


_TREE = re.compile(r"^Tree=\d+\n", flags=re.MULTILINE)


def merge_models(texts: list[str]) -> str:
    """One LightGBM text model whose raw score is the sum of the given models' raw scores.

    The models must share their features (names, order). Trees are renumbered in order,
    ``tree_sizes`` recomputed, ``feature_infos`` (value ranges) joined, and the objective
    set to ``custom``: the merged model predicts its raw sum (LightGBM and lleaves both read
    ``custom`` as the identity; a model with no objective line does not compile with lleaves).
    Each model's own bias (boost from average) lives in its first tree, so nothing else is
    lost.
    """
    if not texts:
        raise ValueError("merge_models needs at least one model")
    heads, bodies = [], []
    for text in texts:
        start = text.find("\nTree=0\n")
        end = text.find("end of trees")
        if start < 0 or end < 0:
            raise ValueError("not a LightGBM text model with trees")
        heads.append(_header(text[:start]))
        bodies.extend(b for b in _TREE.split(text[start + 1:end]) if b.strip())
    names = {h["feature_names"] for h in heads}
    if len(names) != 1:
        raise ValueError("models to merge must have the same features in the same order")
    if {h.get("num_tree_per_iteration", "1") for h in heads} != {"1"}:
        raise ValueError("only single-output models can be merged")
    trees = [f"Tree={i}\n{body.rstrip(chr(10))}\n\n\n" for i, body in enumerate(bodies)]
    head = dict(heads[0])
    head["objective"] = "custom"
    head["feature_infos"] = _join_infos([h["feature_infos"] for h in heads])
    head["tree_sizes"] = " ".join(str(len(t.encode())) for t in trees)
    lines = ["tree"] + [f"{k}={v}" for k, v in head.items() if k != "tree"]
    return "\n".join(lines) + "\n\n" + "".join(trees) + "end of trees\n\npandas_categorical:null\n"


def _header(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.strip().splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


def _join_infos(infos: list[str]) -> str:
    columns = [info.split(" ") for info in infos]
    joined = []
    for values in zip(*columns, strict=True):
        ranges = [v for v in values if v != "none"]
        if not ranges:
            joined.append("none")
        elif any(not v.startswith("[") for v in ranges):  # categorical: keep the first
            joined.append(ranges[0])
        else:
            lo = min(float(v[1:-1].split(":")[0]) for v in ranges)
            hi = max(float(v[1:-1].split(":")[1]) for v in ranges)
            joined.append(f"[{lo!r}:{hi!r}]")
    return " ".join(joined)
