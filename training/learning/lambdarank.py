"""The LambdaRank training wrapper: LightGBM ``lambdarank`` with optional position debiasing.

``train_lambdarank`` trains a ``lightgbm.Booster`` on :class:`RankingData` (features,
graded labels, group sizes, optional 0-based positions and row weights):

* objective ``lambdarank``, metric ``ndcg``; ``ndcg@10`` is always evaluated on the
  validation set (added to ``eval_at`` if missing) and **early stopping watches only
  ``valid``'s ``ndcg@10``** (LightGBM's own ``early_stopping`` watches every metric, or
  the first one, which is ``ndcg@`` of the smallest cut-off since LightGBM sorts
  ``eval_at``). Stopping rule as LightGBM's: stop after ``early_stopping_rounds``
  rounds without a strictly better value; the returned booster holds the trees up to
  the best round (LightGBM drops the later ones), with ``best_iteration`` and
  ``best_score['valid']`` of that round.
* ``position_debias=True`` passes ``Dataset(position=...)`` (LightGBM >= 4.1): the
  position-aware LambdaRank learns one additive bias per position id beside the trees
  (Unbiased LambdaMART style), so the trees rank by relevance rather than by the slot a
  card was logged in. Regularisation: LightGBM's
  ``lambdarank_position_bias_regularization`` (pass it in ``params``). The validation
  set gets no positions: NDCG there measures the trees alone.
* ``weight`` goes to ``Dataset(weight=...)``: LightGBM multiplies each row's
  LambdaRank gradient and hessian by it.
* one thread count: ``params['num_threads']`` (default 1); ``predict`` takes its own.

The progress bar (tqdm) shows the rounds and the last validation NDCG@10.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

VALID_NAME = "valid"
STOP_METRIC = "ndcg@10"


@dataclass
class RankingData:
    """One LambdaRank data set: rows grouped by request, groups contiguous and in order.

    ``features`` float32 (rows x features); ``label`` int grades; ``group`` the size of
    each request's group of rows, in row order; ``position`` the 0-based slot each row
    was shown in (for position debiasing); ``weight`` per-row weights.
    """

    features: np.ndarray
    label: np.ndarray
    group: np.ndarray
    position: np.ndarray | None = None
    weight: np.ndarray | None = None
    feature_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.features = np.asarray(self.features, dtype=np.float32)
        if self.features.ndim != 2:
            raise ValueError(f"features must be 2-D (rows x features), got shape {self.features.shape}")
        n, width = self.features.shape
        self.label = np.asarray(self.label)
        if self.label.shape != (n,):
            raise ValueError(f"label has shape {self.label.shape}, features have {n} rows")
        if not np.issubdtype(self.label.dtype, np.integer):
            if not np.array_equal(self.label, np.round(self.label)):
                raise ValueError("labels must be integer grades (LambdaRank label_gain indexes them)")
            self.label = self.label.astype(np.int32)
        if n and self.label.min() < 0:
            raise ValueError("labels must be non-negative grades")
        self.group = np.asarray(self.group, dtype=np.int64)
        if self.group.ndim != 1 or (self.group < 1).any():
            raise ValueError("group must be a 1-D array of positive group sizes")
        if int(self.group.sum()) != n:
            raise ValueError(f"group sizes sum to {int(self.group.sum())}, but there are {n} rows")
        if self.position is not None:
            self.position = np.asarray(self.position)
            if self.position.shape != (n,) or not np.issubdtype(self.position.dtype, np.integer):
                raise ValueError(f"position must be {n} integers (0-based slots)")
            if n and self.position.min() < 0:
                raise ValueError("position is 0-based: negative values are not slots")
            self.position = self.position.astype(np.int32, copy=False)
        if self.weight is not None:
            self.weight = np.asarray(self.weight, dtype=np.float64)
            if self.weight.shape != (n,) or not np.isfinite(self.weight).all() or (self.weight < 0).any():
                raise ValueError(f"weight must be {n} finite non-negative numbers")
        self.feature_names = list(self.feature_names) or [f"f{i}" for i in range(width)]
        if len(self.feature_names) != width:
            raise ValueError(f"{len(self.feature_names)} feature names for {width} feature columns")

    def __len__(self) -> int:
        return len(self.label)


def lambdarank_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the objective, the NDCG metric and ``ndcg@10`` among the cut-offs."""
    out = dict(params)
    objective = out.setdefault("objective", "lambdarank")
    if objective != "lambdarank":
        raise ValueError(f"train_lambdarank trains the lambdarank objective, not {objective!r}")
    metric = out.get("metric", "ndcg")
    metrics = [metric] if isinstance(metric, str) else list(metric)
    if "ndcg" not in metrics:
        metrics.append("ndcg")
    out["metric"] = metrics
    eval_at = None
    for alias in ("eval_at", "ndcg_eval_at", "ndcg_at", "map_eval_at", "map_at"):
        if alias in out:
            eval_at = out.pop(alias)
    cutoffs = [int(k) for k in ([eval_at] if isinstance(eval_at, int) else (eval_at or []))]
    out["eval_at"] = sorted(set(cutoffs) | {10})
    out.setdefault("num_threads", 1)
    out.setdefault("verbosity", -1)
    return out


def _dataset(data: RankingData, params: dict[str, Any], position_debias: bool, reference=None):
    import lightgbm as lgb

    position = None
    if position_debias:
        if data.position is None:
            raise ValueError("position_debias needs RankingData.position (0-based slots)")
        position = data.position
    return lgb.Dataset(
        data.features, label=data.label, group=data.group, weight=data.weight, position=position,
        feature_name=data.feature_names, reference=reference, params=params, free_raw_data=True,
    )


def _early_stopping_on_valid_ndcg10(rounds: int) -> Callable:
    """Stop when ``valid``'s ndcg@10 has not strictly improved for ``rounds`` rounds."""
    import lightgbm as lgb

    state: dict[str, Any] = {"best": -np.inf, "iteration": 0, "results": []}

    def callback(env) -> None:
        results = list(env.evaluation_result_list or [])
        value = next((r[2] for r in results if r[0] == VALID_NAME and r[1] == STOP_METRIC), None)
        if value is None:
            raise ValueError(f"early stopping needs {VALID_NAME} {STOP_METRIC}; got {results}")
        if value > state["best"]:
            state.update(best=value, iteration=env.iteration, results=results)
        elif env.iteration - state["iteration"] >= rounds:
            raise lgb.callback.EarlyStopException(state["iteration"], state["results"])
        if env.iteration == env.end_iteration - 1:
            raise lgb.callback.EarlyStopException(state["iteration"], state["results"])

    callback.order = 30  # after evaluation, like LightGBM's early_stopping
    return callback


def round_progress(total: int, desc: str = "lambdarank", metric: str = STOP_METRIC):
    """(tqdm bar, LightGBM callback): one tick per round, the last validation ``metric``."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="round", leave=False)

    def callback(env) -> None:
        bar.update(1)
        for r in env.evaluation_result_list or []:
            if r[0] == VALID_NAME and r[1] == metric:
                bar.set_postfix({f"valid {metric}": f"{r[2]:.4f}"}, refresh=False)

    callback.order = 20
    return bar, callback


def train_lambdarank(train: RankingData, valid: RankingData | None, params: dict,
                     num_boost_round: int, early_stopping_rounds: int | None,
                     position_debias: bool, progress: bool = True):
    """Train a LightGBM LambdaRank booster (see the module docstring for the rules).

    Without ``valid`` no early stopping happens (``early_stopping_rounds`` must then be
    None) and all ``num_boost_round`` trees are kept.
    """
    import lightgbm as lgb

    if num_boost_round < 1:
        raise ValueError(f"num_boost_round must be >= 1, got {num_boost_round}")
    if early_stopping_rounds is not None and early_stopping_rounds < 1:
        raise ValueError(f"early_stopping_rounds must be >= 1 or None, got {early_stopping_rounds}")
    if early_stopping_rounds is not None and valid is None:
        raise ValueError("early stopping needs a validation set")
    if len(train) == 0:
        raise ValueError("no training rows")
    if valid is not None and valid.feature_names != train.feature_names:
        raise ValueError("validation features differ from training features (names or order)")
    full = lambdarank_params(params)
    train_set = _dataset(train, full, position_debias)
    valid_sets, valid_names, callbacks = [], [], []
    if valid is not None:
        if len(valid) == 0:
            raise ValueError("the validation set has no rows")
        valid_sets = [_dataset(valid, full, position_debias=False, reference=train_set)]
        valid_names = [VALID_NAME]
    if early_stopping_rounds is not None:
        callbacks.append(_early_stopping_on_valid_ndcg10(early_stopping_rounds))
    bar = None
    if progress:
        bar, update = round_progress(num_boost_round)
        callbacks.append(update)
    try:
        booster = lgb.train(full, train_set, num_boost_round=num_boost_round, valid_sets=valid_sets,
                            valid_names=valid_names, callbacks=callbacks)
    finally:
        if bar is not None:
            bar.close()
    return booster


def predict(booster, features: np.ndarray, num_threads: int = 1) -> np.ndarray:
    """Scores of the booster's best iteration (all trees when it did not early-stop)."""
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or features.shape[1] != booster.num_feature():
        raise ValueError(f"features must have shape (rows, {booster.num_feature()}), got {features.shape}")
    best = booster.best_iteration if booster.best_iteration and booster.best_iteration > 0 else None
    return booster.predict(features, num_iteration=best, num_threads=num_threads)
