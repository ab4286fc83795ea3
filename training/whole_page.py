"""Whole-page counterfactual: what a bundle's homepage would earn, from another policy's logs.

The randomised-block estimator (:mod:`training.counterfactual`) only re-orders the ten
products the logging policy put in its top slots. A bundle serves something else: its
own recall over the catalogue, its own rules, twenty cards. Most of the products on its
pages were never shown to that shopper by the logging policy, so no propensity exists for
them and no importance weight can recover their value: **the logs do not identify the
whole-page value without a model**. What they do identify is

* a **reward model**: the probability that a card is clicked / ordered *once examined*,
  learnt from logged cards (the bundle's own feature set plus the slot, LightGBM), and
* the **examination curve**: clicks by slot on the logging policy's shuffled blocks
  (:func:`training.position_bias.estimate_position_bias`; a power law beyond the block).

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

Rewards per page: ``clicks``, ``orders``, ``order_value`` (orders x price: a shopper
buying one unit, as the closed loop's do) and ``gmv`` (order value x the logged units per
order net of cancellations).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.settings import CounterfactualSettings, Settings
from ranking.surfaces import HOMEPAGE, SURFACE_CODES
from training.dataset import RankingFrame

SURFACE_HOMEPAGE = SURFACE_CODES[HOMEPAGE]
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
    from training.position_bias import estimate_from_frame

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


@dataclass
class Pages:
    """Replayed pages, one row per card: its context, slot, product, price and features."""

    context: np.ndarray
    position: np.ndarray
    product_id: np.ndarray
    price: np.ndarray
    features: np.ndarray
    seconds: float = 0.0
    # the target policy's probability of this card in this slot; None = 1 (a deterministic page)
    propensity: np.ndarray | None = None


def replay_pages(bundle_path: str | Path, contexts: pd.DataFrame, settings: Settings,
                 feature_names: list[str], page_size: int, now_ms: int | None = None,
                 progress: bool = False, label: str = "replay") -> Pages:
    """Run the bundle's homepage pipeline for each context (``user_id``, ``hour``).

    ``now_ms`` defaults to the wall clock, as the service's requests carry. Features come
    back in ``feature_names`` order (the reward model's), computed by the pipeline itself.
    """
    from tqdm import tqdm

    from ranking.engine import Engine
    from ranking.pipeline import RankRequest

    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    engine = Engine.load(bundle_path, settings)
    try:
        model_names = list(engine.bundle.model.feature_names)
        missing = [n for n in feature_names if n not in model_names]
        if missing:
            raise ValueError(f"{bundle_path}: the pipeline does not compute {missing[:5]}")
        cols = np.array([model_names.index(n) for n in feature_names], dtype=np.int64)
        pipe = engine.pipelines["homepage"]
        started = time.perf_counter()
        parts: list[tuple[int, np.ndarray, np.ndarray]] = []
        users = contexts.user_id.to_numpy(np.int64)
        hours = contexts.hour.to_numpy(np.int64)
        for c in tqdm(range(len(contexts)), desc=label, unit="page", disable=not progress, leave=False):
            request = RankRequest(surface="homepage", page_size=page_size, now_ms=now,
                                  hour=int(hours[c]), user_id=int(users[c]), seed=c + 1)
            res = pipe.run(request)
            feats = res.cards.features if res.cards.features is not None else np.zeros((0, len(model_names)))
            parts.append((c, res.cards.product_ids, feats[:, cols]))
        seconds = time.perf_counter() - started
        snap = engine.snapshot
        ids = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        price = snap.products.take("price", snap.products.rows(ids), np.nan).astype(np.float64)
    finally:
        engine.close()
    sizes = np.array([len(p[1]) for p in parts], dtype=np.int64)
    return Pages(
        context=np.repeat(np.arange(len(parts)), sizes),
        position=np.concatenate([np.arange(1, n + 1) for n in sizes]) if len(sizes)
        else np.zeros(0, np.int64),
        product_id=ids,
        price=np.nan_to_num(price, nan=0.0),
        features=np.concatenate([p[2] for p in parts]) if parts else np.zeros((0, len(feature_names))),
        seconds=seconds,
    )


def sample_contexts(frame: RankingFrame, n: int, per_user: bool, seed: int) -> pd.DataFrame:
    """Up to ``n`` logged homepage requests (request_id, user_id, hour, weight), drawn at random."""
    first = np.r_[True, frame.request_id[1:] != frame.request_id[:-1]]
    hp = first & (frame.surface == SURFACE_HOMEPAGE)
    req = pd.DataFrame({"request_id": frame.request_id[hp], "user_id": frame.user_id[hp],
                        "hour": frame.hour[hp]}).drop_duplicates("request_id")
    if len(req) > n:
        req = req.sample(n, random_state=seed)
    req = req.sort_values("request_id", ignore_index=True)
    w = 1.0 / req.groupby("user_id").request_id.transform("size").to_numpy(np.float64) if per_user \
        else np.ones(len(req))
    req["weight"] = w / w.mean()
    return req


def logged_rewards(frame: RankingFrame, orders: pd.DataFrame | None,
                   price: np.ndarray) -> dict[str, np.ndarray]:
    """Per logged card: clicks, orders, order value (orders x price) and GMV."""
    from training.counterfactual import card_rewards

    base = card_rewards(frame, orders)
    return {"clicks": base["clicks"], "orders": base["orders"], "order_value": base["orders"] * price,
            "gmv": base["gmv"]}


def feature_columns(frame: RankingFrame, names: list[str]) -> np.ndarray:
    """``frame``'s features in ``names`` order."""
    if list(frame.feature_names) == list(names):
        return frame.features
    missing = [n for n in names if n not in frame.feature_names]
    if missing:
        raise ValueError(f"the logged frame lacks features {missing[:5]}")
    return frame.features[:, [frame.feature_names.index(n) for n in names]]


def logged_pages(frame: RankingFrame, contexts: pd.DataFrame, price: np.ndarray,
                 names: list[str]) -> Pages:
    """The logging policy's own pages on ``contexts``, as a stochastic target policy.

    Each logged card keeps its logged propensity as the target's probability, so the DR
    weight of every logged card is 1 and the DR value of these pages is exactly their logged
    reward; their direct value is the reward model's prediction of it (its calibration).
    """
    ctx = pd.Series(np.arange(len(contexts)), index=contexts.request_id.to_numpy()).reindex(frame.request_id)
    keep = ctx.notna().to_numpy()
    return Pages(context=ctx.to_numpy()[keep].astype(np.int64),
                 position=frame.position[keep].astype(np.int64),
                 product_id=frame.product_id[keep].astype(np.int64), price=np.asarray(price, float)[keep],
                 features=feature_columns(frame, names)[keep], propensity=frame.propensity[keep])


def _weighted_mean_ci(values: np.ndarray, weights: np.ndarray) -> tuple[float, list[float]]:
    """Weighted mean and a normal 95% interval (ratio-estimator variance over contexts)."""
    sw = weights.sum()
    mean = float((weights * values).sum() / sw)
    n = len(values)
    if n < 2:
        return mean, [float("nan"), float("nan")]
    z = weights * (values - mean) / sw * n
    se = float(z.std(ddof=1) / np.sqrt(n))
    return mean, [mean - 1.96 * se, mean + 1.96 * se]


def paired_lift(treatment: np.ndarray, control: np.ndarray, weights: np.ndarray) -> dict:
    """Lift of the weighted mean of ``treatment`` over ``control`` per context (the same
    contexts for both), with a delta-method 95% interval. It covers the contexts' sampling
    noise, not the reward model's error."""
    t, c = float((weights * treatment).sum()), float((weights * control).sum())
    if c <= 0:
        return {"lift": float("nan"), "ci95": [float("nan"), float("nan")]}
    ratio = t / c
    n = len(weights)
    z = weights * (treatment - ratio * control) / (c / n)
    se = float(z.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"lift": ratio - 1, "ci95": [ratio - 1 - 1.96 * se, ratio - 1 + 1.96 * se]}


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
        dm, dm_ci = _weighted_mean_ci(dm_ctx, weights)
        dr, dr_ci = _weighted_mean_ci(dm_ctx + corr_ctx, weights)
        out["rewards"][name] = {"direct": dm, "direct_ci95": dm_ci, "dr": dr, "dr_ci95": dr_ci,
                                "correction": dr - dm}
        out["per_context"][name] = dm_ctx + corr_ctx
    return out


def _homepage_frame(mall, settings: Settings, days: tuple[int, int], sample: float = 1.0) -> RankingFrame:
    """Featurised logged homepage cards of ``days`` (all features; a hashed share of requests)."""
    from training.dataset import build_ranking_frame

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
    from training.mall_data import load_mall

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
                out["comparison"]["rewards"][name]["reward_model_se"] = float(x.std(ddof=1) / np.sqrt(len(x)))
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def block_estimates(frame: RankingFrame, scores: np.ndarray, orders: pd.DataFrame | None, price: np.ndarray,
                    reward: RewardModel, max_weight: float = 0.0) -> dict:
    """The bundle re-ordering the logged randomised blocks: IPS, SNIPS and DR per request.

    The estimand of :func:`training.counterfactual.counterfactual_estimates` (same
    blocks, same products), with the reward model as the DR baseline: ``sum_cards e(new
    slot) r(card) + sum_cards [new slot = logged slot] / p (y - e(logged slot) r(card))``.
    """
    from training.counterfactual import block_ranks, counterfactual_estimates

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
        se = float(per_req.std(ddof=1) / np.sqrt(n_req)) if n_req > 1 else float("nan")
        logged = float(ys[name].sum() / n_req)
        out["rewards"][name] = {**b, "logging_policy": logged, "dr": dr,
                                "dr_ci95": [dr - 1.96 * se, dr + 1.96 * se],
                                "dr_lift": dr / logged - 1 if logged else float("nan")}
    return out
