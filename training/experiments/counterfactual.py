"""Counterfactual evaluation: a new bundle's click and order rates from another policy's logs.

The logging policy randomises the top ``r`` slots of a share of its pages, and logs for
every card the probability that it put *this* product in *this* slot (``propensity``:
``(1 - eps) * [its own choice] + eps / r`` inside the block, 1 outside). Under the
item-position model (a card's reward depends on the product and its slot, not on its
neighbours; Li et al., 2018), for a new policy pi that orders the same block:

* **IPS**: ``V = 1/N sum_requests sum_cards reward * [pi puts the card's product in its
  logged slot] / propensity``; unbiased where every (product, slot) has propensity > 0,
  which is true inside the block, so only requests with a randomisable block (propensity
  < 1) count.
* **SNIPS** (self-normalised): ``V = r * sum(w * reward) / sum(w)`` with the same weights
  ``w``: the expected weight per request is ``r`` (one match per slot), so dividing by the
  realised weights trades a small bias for much lower variance.

pi orders the block by the bundle's model score over the logged features (the same
features serving computes). Rewards: a click (grade >= 1), an order, and the GMV of the
card (price paid x quantity of its non-cancelled orders). Compared with the logging
policy's own on-policy value over the same blocks, the ratio is the estimated lift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.learning.dataset import RankingFrame
from training.stats import mean_se, normal_ci95


def card_rewards(frame: RankingFrame, orders: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Per frame row: clicked, ordered, GMV (estimates are per request: sums over its block)."""
    clicked = (frame.grade >= 1).astype(float)
    ordered = (frame.grade >= 3).astype(float)
    gmv = np.zeros(len(frame))
    if orders is not None and len(orders):
        o = orders[~orders.cancelled.astype(bool)].dropna(subset=["request_id"])
        amount = (o.price_paid * o.quantity).groupby([o.request_id.astype(np.int64), o.product_id]).sum()
        key = pd.MultiIndex.from_arrays([frame.request_id.astype(np.int64), frame.product_id])
        gmv = amount.reindex(key).fillna(0.0).to_numpy()
    return {"clicks": clicked, "orders": ordered, "gmv": gmv}


def block_ranks(request_id: np.ndarray, score: np.ndarray) -> np.ndarray:
    """1-based rank of each row's score inside its request (rows of a request contiguous)."""
    order = np.lexsort((-score, request_id))
    ranks = np.empty(len(score), dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(request_id[order])) + 1]
    sizes = np.diff(np.r_[starts, len(order)])
    ranks[order] = np.arange(len(order)) - np.repeat(starts, sizes) + 1
    return ranks


def counterfactual_estimates(
    frame: RankingFrame, model_scores: np.ndarray, orders: pd.DataFrame | None, surface: int | None = None
) -> dict:
    """IPS and SNIPS of the model's ordering of each randomisable block, per reward."""
    block = frame.propensity < 1.0
    if surface is not None:
        block &= frame.surface == surface
    rows = np.flatnonzero(block)
    if len(rows) == 0:
        raise ValueError("no logged cards with propensity < 1: the logs hold no randomisation to learn from")
    rewards = card_rewards(frame, orders)
    req = frame.request_id[rows]
    new_pos = block_ranks(req, np.asarray(model_scores, float)[rows])
    match = new_pos == frame.position[rows]
    weight = match / frame.propensity[rows]
    n_requests = len(np.unique(req))
    slots = len(rows) / n_requests
    out: dict = {
        "requests": int(n_requests),
        "cards": len(rows),
        "slots_per_block": round(slots, 2),
        "mean_weight": float(weight.sum() / len(rows)),
        "rewards": {},
    }
    for name, r in rewards.items():
        rr = r[rows]
        ips = float((weight * rr).sum() / n_requests)
        snips = float(slots * (weight * rr).sum() / max(weight.sum(), 1e-12))
        logged = float(rr.sum() / n_requests)
        # per-request IPS terms for a normal interval
        per_req = pd.Series(weight * rr).groupby(req).sum().to_numpy()
        out["rewards"][name] = {
            "logging_policy": logged,
            "ips": ips,
            "ips_ci95": normal_ci95(ips, mean_se(per_req)),
            "snips": snips,
            "estimated_lift": snips / logged - 1 if logged else float("nan"),
        }
    return out
