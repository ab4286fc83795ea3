"""Pages for the whole-page estimate: a bundle's homepage replayed through its real pipeline on
logged contexts (``replay_pages``, the code the service runs), the contexts sampled from the
logs, and the logging policy's own pages on them with their logged rewards
(:mod:`training.experiments.whole_page`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.settings import Settings
from ranking.surfaces import HOMEPAGE, SURFACE_CODES
from training.learning.dataset import RankingFrame

SURFACE_HOMEPAGE = SURFACE_CODES[HOMEPAGE]


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
    from training.experiments.counterfactual import card_rewards

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
