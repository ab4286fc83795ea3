"""The whole-page estimate's reward model: P(click | examined) and P(order | examined) of a
card, learnt from logged cards (the bundle's feature set plus the slot, LightGBM, one model
pair per disjoint request shard), with the examination curve by slot from the logging
policy's shuffled blocks and the logged units per order (:mod:`training.experiments.whole_page`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ranking.settings import CounterfactualSettings
from training.learning.dataset import RankingFrame

POSITION_FEATURE = "slot"


@dataclass
class RewardModel:
    """P(click | examined) and P(order | examined) from logged cards, and the slot curve.

    ``click`` and ``order`` are one booster each or lists of them (an ensemble fitted on
    disjoint request shards: its prediction is their mean; :meth:`members` splits it).
    """

    feature_names: list[str]
    click: object  # lightgbm.Booster, or a list of them
    order: object
    examination: np.ndarray  # [slot - 1] -> relative examination, slot 1 = 1
    units_per_order: float  # logged GMV / (orders x price): quantity net of cancellations
    cards: int = 0  # logged cards it learnt from

    def slot_examination(self, positions: np.ndarray) -> np.ndarray:
        """Examination of 1-based slots (the last curve value beyond the curve)."""
        p = np.clip(np.asarray(positions, dtype=np.int64), 1, len(self.examination))
        return self.examination[p - 1]

    def members(self) -> list[RewardModel]:
        clicks, orders = _as_list(self.click), _as_list(self.order)
        return [RewardModel(self.feature_names, c, o, self.examination, self.units_per_order,
                            self.cards // len(clicks)) for c, o in zip(clicks, orders, strict=True)]

    def examined_rates(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(click | examined), P(order | examined)) per card, predicted at slot 1."""
        x = np.column_stack([np.asarray(features, dtype=np.float32), np.ones(len(features), np.float32)])
        if len(x) == 0:
            return np.zeros(0), np.zeros(0)
        return (np.mean([m.predict(x) for m in _as_list(self.click)], axis=0),
                np.mean([m.predict(x) for m in _as_list(self.order)], axis=0))


def _as_list(x) -> list:
    return list(x) if isinstance(x, list | tuple) else [x]


def examination_curve(frame: RankingFrame, max_position: int) -> np.ndarray:
    """Relative examination by slot from the frame's shuffled blocks (clicks at grade >= 1)."""
    from training.learning.position_bias import estimate_from_frame

    curve = estimate_from_frame(frame, max_position, by_surface=False)
    curve = curve[curve.surface == "all"].sort_values("position")
    e = curve.examination.to_numpy(np.float64)
    return np.maximum.accumulate(e[::-1])[::-1] if len(e) else np.ones(max_position)


def units_per_order(orders: pd.DataFrame) -> float:
    """Logged GMV (price x quantity, cancelled orders excluded) per unit of price ordered."""
    if orders is None or len(orders) == 0:
        return 1.0
    paid = float(orders.price_paid.sum())
    kept = ~orders.cancelled.astype(bool)
    gmv = float((orders.price_paid * orders.quantity)[kept].sum())
    return gmv / paid if paid > 0 else 1.0


def fit_reward_model(frame: RankingFrame, orders: pd.DataFrame | None, cf: CounterfactualSettings,
                     max_position: int, num_threads: int = 2, progress: bool = False) -> RewardModel:
    """Fit the click and order models on ``frame``'s cards (features + slot), one pair per
    disjoint request shard (``cf.reward_models`` of them, by a hash of the request id)."""
    import lightgbm as lgb
    from tqdm import tqdm

    if len(frame) == 0:
        raise ValueError("no logged cards to learn the reward model from")
    x = np.column_stack([frame.features.astype(np.float32), frame.position.astype(np.float32)])
    params = {
        "objective": "binary", **cf.reward.lightgbm_params(), "feature_fraction": 0.9,
        "bagging_fraction": 0.8, "bagging_freq": 1, "seed": cf.seed, "num_threads": num_threads,
        "verbosity": -1,
    }
    names = [*frame.feature_names, POSITION_FEATURE]
    k = cf.reward_models
    mixed = frame.request_id.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    shard = (mixed >> np.uint64(40)) % np.uint64(k)
    models: dict[str, list] = {"click": [], "order": []}
    bar = tqdm(total=2 * k, desc="reward models", unit="model", disable=not progress, leave=False)
    for part in range(k):
        rows = shard == part
        for name, label in (("click", frame.grade >= 1), ("order", frame.grade >= 3)):
            data = lgb.Dataset(x[rows], label=label[rows].astype(np.float32), feature_name=names,
                               free_raw_data=True)
            models[name].append(lgb.train(params, data, num_boost_round=cf.reward.num_boost_round))
            bar.update()
    bar.close()
    return RewardModel(list(frame.feature_names), models["click"], models["order"],
                       examination_curve(frame, max_position), units_per_order(orders), len(frame))
