"""Whole-page counterfactual: what a bundle's homepage would earn, from another policy's logs.

The randomised-block estimator (:mod:`training.experiments.counterfactual`) only re-orders the ten
products the logging policy put in its top slots. A bundle serves something else: its
own recall over the catalogue, its own rules, twenty cards. Most of the products on its
pages were never shown to that shopper by the logging policy, so no propensity exists for
them and no importance weight can recover their value: **the logs do not identify the
whole-page value without a model**. What they do identify is

* a **reward model**: the probability that a card is clicked / ordered *once examined*,
  learnt from logged cards (the bundle's own feature set plus the slot, LightGBM), and
* the **examination curve**: clicks by slot on the logging policy's shuffled blocks
  (:func:`training.learning.position_bias.estimate_position_bias`; a power law beyond the block).

The estimate is **doubly robust** (Dudik et al., 2011) on the part of the page the logs
support and **direct** on the rest. For logged homepage contexts ``x`` (user, hour) the
bundle's page ``pi(x)`` is replayed through its real homepage pipeline (``ranking``'s
engine, the code the service runs), and

``V = sum_x w_x [ sum_j e(j) r(x, pi_j(x)) + sum_(i, j logged in x) [pi puts i at j] /
p(i, j) (y_ij - e(j) r(x, i)) ] / sum_x w_x``

with ``e`` the examination curve, ``r`` the reward model at slot 1 (x the price for order
value), ``p`` the logged propensity (below 1 inside a randomised block, 1 elsewhere: the
logging policy placed that card with certainty given its own draw) and ``y`` the logged
reward. The correction is unbiased where the logging policy could have shown the card
there; the direct term carries the rest, and its error is the reward model's
extrapolation error. The report says how much of each page had logged support.

``w_x``: the closed loop draws shoppers uniformly, the logs by activity; with
``per_user`` each user's contexts share one unit of weight.

The reward model is :mod:`training.experiments.reward_model`, the replayed and logged pages
:mod:`training.experiments.page_replay`; this module makes the estimate.

Rewards per page: ``clicks``, ``orders``, ``order_value`` (orders x price: a shopper
buying one unit, as the closed loop's do) and ``gmv`` (order value x the logged units per
order net of cancellations).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.settings import Settings
from training.experiments.page_replay import (
    SURFACE_HOMEPAGE,
    Pages,
    feature_columns,
    logged_pages,
    logged_rewards,
    replay_pages,
    sample_contexts,
)
from training.experiments.reward_model import RewardModel, fit_reward_model
from training.learning.dataset import RankingFrame
from training.stats import mean_se, normal_ci95, paired_lift, weighted_mean_ci

REWARDS = ("clicks", "orders", "order_value", "gmv")


def whole_page_estimate(pages: Pages, contexts: pd.DataFrame, logged: RankingFrame,
                        orders: pd.DataFrame | None, logged_price: np.ndarray, reward: RewardModel,
                        max_weight: float = 0.0) -> dict:
    """Direct and doubly-robust value per page of the replayed pages (see module docstring).

    ``logged`` holds the contexts' logged cards (rows of a request contiguous; any feature
    order: the reward model picks its own columns by name), ``logged_price`` aligned to its
    rows. ``per_context`` in the answer holds each reward's DR value per context (arrays,
    for paired comparisons; drop it before writing JSON).
    """
    n_ctx = len(contexts)
    weights = contexts.weight.to_numpy(np.float64)
    # direct term: the replayed pages valued by the reward model
    pc, po = reward.examined_rates(pages.features)
    e = reward.slot_examination(pages.position)
    card_value = {"clicks": e * pc, "orders": e * po, "order_value": e * po * pages.price,
                  "gmv": e * po * pages.price * reward.units_per_order}
    # correction: logged cards the page puts in the same slot, weighted pi / propensity
    ctx_of = pd.Series(np.arange(n_ctx), index=contexts.request_id.to_numpy())
    lrow_ctx = ctx_of.reindex(logged.request_id).to_numpy()
    keep = ~np.isnan(lrow_ctx)
    lrow_ctx = np.where(keep, lrow_ctx, -1).astype(np.int64)
    stride = int(max(pages.position.max(initial=0), logged.position.max(initial=0))) + 1
    page_key = (pages.context.astype(np.int64) * stride + pages.position.astype(np.int64)) * (1 << 24) \
        + pages.product_id.astype(np.int64)
    logged_key = (lrow_ctx * stride + logged.position.astype(np.int64)) * (1 << 24) \
        + logged.product_id.astype(np.int64)
    target = np.ones(len(page_key)) if pages.propensity is None else np.asarray(pages.propensity, float)
    pi = pd.Series(target, index=page_key)
    pi = pi[~pi.index.duplicated()].reindex(logged_key).to_numpy()
    match = keep & ~np.isnan(pi)
    w = np.where(match, np.nan_to_num(pi) / np.maximum(logged.propensity, 1e-12), 0.0)
    if max_weight > 0:
        w = np.minimum(w, max_weight)
    feats = feature_columns(logged, reward.feature_names)
    lpc, lpo = reward.examined_rates(feats[match]) if match.any() else (np.zeros(0), np.zeros(0))
    le = reward.slot_examination(logged.position[match])
    ys = logged_rewards(logged.select(match), orders, logged_price[match])
    predicted = {"clicks": le * lpc, "orders": le * lpo, "order_value": le * lpo * logged_price[match],
                 "gmv": le * lpo * logged_price[match] * reward.units_per_order}
    m_ctx = lrow_ctx[match]
    out: dict = {
        "contexts": int(n_ctx),
        "cards": len(pages.product_id),
        "replay_seconds": round(pages.seconds, 2),
        "supported_cards": int(match.sum()),
        "supported_share": float(match.sum() / max(len(pages.product_id), 1)),
        "supported_in_randomised_block": int((match & (logged.propensity < 1)).sum()),
        "rewards": {},
        "per_context": {},
    }
    for name, v in card_value.items():
        dm_ctx = np.bincount(pages.context, weights=v, minlength=n_ctx)
        corr_ctx = np.bincount(m_ctx, weights=w[match] * (ys[name] - predicted[name]), minlength=n_ctx)
        dm, dm_ci = weighted_mean_ci(dm_ctx, weights)
        dr, dr_ci = weighted_mean_ci(dm_ctx + corr_ctx, weights)
        out["rewards"][name] = {"direct": dm, "direct_ci95": dm_ci, "dr": dr, "dr_ci95": dr_ci,
                                "correction": dr - dm}
        out["per_context"][name] = dm_ctx + corr_ctx
    return out


def _homepage_frame(mall, settings: Settings, days: tuple[int, int], sample: float = 1.0) -> RankingFrame:
    """Featurised logged homepage cards of ``days`` (all features; a hashed share of requests)."""
    from training.learning.dataset import build_ranking_frame

    if sample < 1:
        settings = settings.model_copy(deep=True)
        settings.training.request_sample = settings.training.request_sample * sample
    f = build_ranking_frame(mall, settings, progress=False, days=days)
    return f.select(f.surface == SURFACE_HOMEPAGE)


def estimate_bundles(bundles: dict[str, Path], data_dir: str | Path, settings: Settings,
                     now_ms: int | None = None, progress: bool = True,
                     compare: tuple[str, str] | None = None) -> dict:
    """Whole-page DR estimates of each bundle's homepage, and the logging policy's own pages.

    The test days are the first bundle's; the reward model learns from the
    ``reward_days`` before them; contexts are logged homepage requests of the test days.
    Every bundle is compared with the logging policy's logged pages on the same contexts
    (``lift_over_logging_policy``); ``compare=(treatment, control)`` adds the lift of one
    bundle over another (``comparison``). ``randomised_block`` keeps the older estimand
    (IPS / SNIPS of the bundle re-ordering the logged randomised top slots) beside it.
    """
    from ranking.bundle import load_bundle
    from training.data.mall_data import load_mall

    cf = settings.counterfactual
    loaded = {k: load_bundle(p) for k, p in bundles.items()}
    first = next(iter(loaded.values()))
    names = [n for n in first.model.feature_names if all(n in b.model.feature_names for b in loaded.values())]
    test = tuple(first.manifest["data"]["split_days"]["test"])

    def say(msg: str) -> None:
        if progress:
            print(f"counterfactual: {msg} ({time.perf_counter() - started:.0f}s)", flush=True)

    started = time.perf_counter()
    mall = load_mall(data_dir)
    orders = mall["orders"]
    price = mall["products"].set_index("product_id").price
    logged = _homepage_frame(mall, settings, test)
    reward_days = (max(test[0] - cf.reward_days, 0), test[0])
    train = _homepage_frame(mall, settings, reward_days, cf.reward_request_sample)
    if len(train) == 0:
        raise ValueError(f"no logged homepage cards in the {cf.reward_days} days before the test days {test}")
    train = RankingFrame(**{k: v for k, v in train.__dict__.items() if isinstance(v, np.ndarray)
                            and k != "features"}, features=feature_columns(train, names), feature_names=names)
    say(f"{len(logged):,} logged test cards, {len(train):,} reward-model cards")
    reward = fit_reward_model(train, orders, cf, cf.page_size, settings.training.num_threads, progress)
    del train
    say("reward model fitted")
    contexts = sample_contexts(logged, cf.contexts, cf.per_user, cf.seed)
    sel = logged.select(np.isin(logged.request_id, contexts.request_id.to_numpy()))
    sel_price = price.reindex(sel.product_id).fillna(0.0).to_numpy()
    w = contexts.weight.to_numpy(np.float64)
    out: dict = {
        "method": "whole-page doubly robust: each bundle's homepage replayed on logged contexts, valued by "
                  "a reward model learnt from the logs x the logged examination curve, IPS-corrected "
                  "where the logs showed the same card in the same slot",
        "test_days": list(test),
        "reward_model": {"days": list(reward_days), "cards": int(reward.cards),
                         "examination": [round(float(x), 4) for x in reward.examination],
                         "units_per_order": reward.units_per_order},
        "contexts": len(contexts),
        "per_user": cf.per_user,
    }
    # the logging policy's own pages on the same contexts: DR = the logged rewards (weight 1),
    # direct = the reward model's prediction of them (its calibration on logged pages)
    own = whole_page_estimate(logged_pages(sel, contexts, sel_price, names), contexts, sel, orders, sel_price,
                              reward)
    base = own.pop("per_context")
    out["logging_policy"] = {
        name: {"value": r["dr"], "ci95": r["dr_ci95"], "reward_model_predicts": r["direct"],
               "calibration": r["direct"] / r["dr"] - 1 if r["dr"] else float("nan")}
        for name, r in own["rewards"].items()}
    all_price = price.reindex(logged.product_id).fillna(0.0).to_numpy()
    per_context: dict[str, dict[str, np.ndarray]] = {}
    replayed: dict[str, Pages] = {}
    for key, b in loaded.items():
        pages = replay_pages(b.path, contexts, settings, names, cf.page_size, now_ms, progress,
                             f"replay {key}")
        replayed[key] = pages
        est = whole_page_estimate(pages, contexts, sel, orders, sel_price, reward, cf.max_weight)
        per_context[key] = est.pop("per_context")
        est["lift_over_logging_policy"] = {
            name: paired_lift(per_context[key][name], base[name], w) for name in REWARDS}
        scores = b.model.score(np.ascontiguousarray(feature_columns(logged, list(b.model.feature_names))))
        est["randomised_block"] = block_estimates(logged, scores, orders, all_price, reward, cf.max_weight)
        out[key] = est
        say(f"{key}: {len(contexts)} pages replayed in {pages.seconds:.0f}s, "
            f"{est['supported_share']:.2%} of their cards logged in the same slot")
    if compare is not None:
        t, c = compare
        out["comparison"] = {"treatment": t, "control": c, "rewards": {
            name: {"treatment": out[t]["rewards"][name]["dr"], "control": out[c]["rewards"][name]["dr"],
                   **paired_lift(per_context[t][name], per_context[c][name], w),
                   "direct_lift": out[t]["rewards"][name]["direct"] / out[c]["rewards"][name]["direct"] - 1}
            for name in REWARDS}}
        members = reward.members()
        if len(members) > 1:
            # the reward model's own uncertainty: each shard's model alone, on the same pages
            lifts = {name: [] for name in REWARDS}
            for m in members:
                vals = {k: whole_page_estimate(replayed[k], contexts, sel, orders, sel_price, m,
                                               cf.max_weight)["per_context"] for k in (t, c)}
                for name in REWARDS:
                    lifts[name].append(paired_lift(vals[t][name], vals[c][name], w)["lift"])
            for name in REWARDS:
                x = np.array(lifts[name])
                out["comparison"]["rewards"][name]["reward_model_members_lift"] = x.tolist()
                # members see 1/k of the data each: their spread / sqrt(k) ~ the ensemble's error
                out["comparison"]["rewards"][name]["reward_model_se"] = mean_se(x)
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def block_estimates(frame: RankingFrame, scores: np.ndarray, orders: pd.DataFrame | None, price: np.ndarray,
                    reward: RewardModel, max_weight: float = 0.0) -> dict:
    """The bundle re-ordering the logged randomised blocks: IPS, SNIPS and DR per request.

    The estimand of :func:`training.experiments.counterfactual.counterfactual_estimates` (same
    blocks, same products), with the reward model as the DR baseline: ``sum_cards e(new
    slot) r(card) + sum_cards [new slot = logged slot] / p (y - e(logged slot) r(card))``.
    """
    from training.experiments.counterfactual import block_ranks, counterfactual_estimates

    base = counterfactual_estimates(frame, scores, orders, surface=SURFACE_HOMEPAGE)
    rows = np.flatnonzero((frame.propensity < 1.0) & (frame.surface == SURFACE_HOMEPAGE))
    sub = frame.select(rows)
    req = sub.request_id
    new_pos = block_ranks(req, np.asarray(scores, float)[rows])
    w = (new_pos == sub.position) / sub.propensity
    if max_weight > 0:
        w = np.minimum(w, max_weight)
    pc, po = reward.examined_rates(feature_columns(sub, reward.feature_names))
    p = price[rows]
    rate = {"clicks": pc, "orders": po, "order_value": po * p, "gmv": po * p * reward.units_per_order}
    ys = logged_rewards(sub, orders, p)
    n_req = len(np.unique(req))
    e_new, e_old = reward.slot_examination(new_pos), reward.slot_examination(sub.position)
    out = {"requests": base["requests"], "rewards": {}}
    for name, r in rate.items():
        b = base["rewards"].get(name, {})
        dr_terms = e_new * r + w * (ys[name] - e_old * r)
        per_req = pd.Series(dr_terms).groupby(req).sum().to_numpy()
        dr = float(per_req.sum() / n_req)
        logged = float(ys[name].sum() / n_req)
        out["rewards"][name] = {**b, "logging_policy": logged, "dr": dr,
                                "dr_ci95": normal_ci95(dr, mean_se(per_req)),
                                "dr_lift": dr / logged - 1 if logged else float("nan")}
    return out
