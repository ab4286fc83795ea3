"""A simulated week of cold start: the same homepage sessions played, in-process, against one
bundle under two arms' settings (cold start on and off), the simulator's truth answering each
page and an embedded live state counting what the shoppers did, so the bandit's posteriors
move during the week as they do in the service (``shelfrank experiment cold-start-week``;
docs/cold_start.md).

Sessions are spread over ``days`` days from the bundle's snapshot on, in time order: session
``s`` falls on day ``s * days // sessions`` at the local hour the shoppers' traffic draws
(:class:`training.experiments.closed_loop.Shoppers`: the same user, hour, mission and dice in
both arms). Each page is ranked with the request's live view and the live counters, answered
by the truth (examination, click, order), and its impressions, clicks, carts and orders applied
to the arm's live state before the next page. A product is *new* as cold start counts it
(listed within ``cold_start.new_product_days`` or of a store opened within ``new_store_days``
of the page's time, the default settings, alike in both arms): its share of the orders and of
the GMV, and the arms' orders and GMV per session, paired by session, are the result.

Products arriving during the week: ``arrivals`` (the ``products`` rows a held-out mall kept
back, :mod:`training.experiments.cold_start_arrivals`) are listed through the live catalog path at
times spread over the week; their own share of the orders is reported too. Without them the new
products are the simulated world's new stores' products, 0 to 14 days old when the week starts.
Only the homepage is played (search and channel pages have no simulated shopper here).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ranking.cold_start.newness import new_products
from ranking.mall_clock import fixed_offset_ms
from ranking.settings import ColdStartSettings, Settings, load_settings
from training.experiments.cold_start_arrivals import Arrivals
from training.stats import bootstrap_ci95, bootstrap_indices, mean_se, normal_ci95

if TYPE_CHECKING:
    from ranking.engine import Engine
    from ranking.live import LiveState
    from training.experiments.closed_loop import Shoppers

DAY_MS, HOUR_MS, PAGE_GAP_MS = 86_400_000, 3_600_000, 15_000


@dataclass
class WeekSession:
    session: int
    user_id: int
    hour: int
    now_ms: int
    pages: int = 0
    impressions: int = 0
    new_impressions: int = 0
    clicks: int = 0
    orders: int = 0
    new_orders: int = 0
    gmv: float = 0.0
    new_gmv: float = 0.0
    arrived_impressions: int = 0  # of products listed during the week (--arrivals)
    arrived_orders: int = 0
    arrived_gmv: float = 0.0


def schedule(shoppers: Shoppers, sessions: int, days: int, start_ms: int, timezone: str) -> list[WeekSession]:
    """The week's sessions in time order: day by session number, the shoppers' hour (local)."""
    offset = fixed_offset_ms(timezone) or 0
    midnight = (start_ms + offset) // DAY_MS * DAY_MS + DAY_MS - offset  # the next local midnight
    out = []
    for s in range(sessions):
        user, hour, _ = shoppers.draw(s)
        minute = (s * 7919) % 3_600_000  # spread within the hour, deterministic
        out.append(WeekSession(s, user, hour, midnight + (s * days // sessions) * DAY_MS + hour * HOUR_MS
                               + minute))
    return sorted(out, key=lambda w: (w.now_ms, w.session))


def live_state_for(engine: Engine, settings: Settings) -> LiveState:
    """An embedded live state that knows the bundle's products and leaves."""
    from ranking.live import LiveState

    state = LiveState(settings.live)
    ids, leaves, consumable = engine.product_leaves()
    state.catalog.describe(ids, leaf=leaves)
    state.apply("categories", [{"category_id": int(c), "consumable": True} for c in consumable])
    return state


def apply_page(state: LiveState, user: int, now: int, rid: int, cards: list[dict], clicked: np.ndarray,
               carted: np.ndarray, ordered: np.ndarray) -> None:
    """The page's impressions, clicks, carts and orders, as a frontend would post them."""
    state.apply("impressions", [{"user_id": user, "timestamp": now, "product_id": c["product_id"],
                                 "request_id": rid, "position": c["position"]} for c in cards])
    for table, mask, gap in (("clicks", clicked, 1), ("carts", carted, 2), ("orders", ordered, 3)):
        rows = [{"user_id": user, "timestamp": now + gap, "product_id": c["product_id"], "request_id": rid}
                for c, hit in zip(cards, mask, strict=True) if hit]
        if table == "orders":
            rows = [{**r, "store_id": c["store_id"], "price_paid": c["price"], "quantity": 1,
                     "cancelled": False} for r, c in zip(rows, [c for c, h in zip(cards, mask, strict=True)
                                                                if h], strict=True)]
        if rows:
            state.apply(table, rows)


def play_session(engine: Engine, state: LiveState, shoppers: Shoppers, week: WeekSession, page_size: int,
                 newness: ColdStartSettings, arrived: np.ndarray) -> None:
    """One shopper's pages (until an order, fatigue or the budget), counted into ``week``."""
    from ranking.pipeline import RankRequest

    leaf = shoppers.mission(week.session, week.user_id, week.hour)
    for n in range(shoppers.sessions.session_max_pages):
        now = week.now_ms + n * PAGE_GAP_MS
        request = RankRequest("homepage", page_size, now, week.hour, user_id=week.user_id,
                              seed=week.session * 64 + n)
        view = state.shopper_view(week.user_id, None, now)
        request.shopper = view if view.known else None
        request.live_signals = state.product_signals
        cards = engine.rank("homepage", request).cards
        rng = shoppers.page_rng(week.session, n)
        clicked, carted, ordered = shoppers.react(week.user_id, week.hour, cards, rng,
                                                  (leaf, shoppers.mission_strength(n)))
        apply_page(state, week.user_id, now, week.session * 64 + n, cards, clicked, carted, ordered)
        ids = np.array([c["product_id"] for c in cards], np.int64)
        new = np.logical_or(*new_products(engine.snapshot, ids, now, newness)) if len(ids) else ids > 0
        price = np.array([c["price"] or 0.0 for c in cards])
        came = np.isin(ids, arrived)
        week.arrived_impressions += int(came.sum())
        week.arrived_orders += int((ordered & came).sum())
        week.arrived_gmv += float(price[ordered & came].sum())
        week.pages += 1
        week.impressions += len(cards)
        week.new_impressions += int(new.sum())
        week.clicks += int(clicked.sum())
        week.orders += int(ordered.sum())
        week.new_orders += int((ordered & new).sum())
        week.gmv += float(price[ordered].sum())
        week.new_gmv += float(price[ordered & new].sum())
        if not shoppers.goes_on(rng, ordered, n):
            break


def play_arm(data: Path, bundle: Path, overrides: list[str], sessions: int, days: int, seed: int,
             page_size: int, progress: bool, arrivals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One arm's week: its settings, its engine and live state, every session in time order, and
    ``arrivals`` (held-out ``products`` rows) listed during it
    (:class:`training.experiments.cold_start_arrivals.Arrivals`)."""
    from tqdm import tqdm

    from ranking.engine import Engine
    from training.experiments.closed_loop import Shoppers

    settings = load_settings(overrides)
    engine = Engine.load(bundle, settings)
    try:
        state = live_state_for(engine, settings)
        shoppers = Shoppers(data, seed, settings.simulator)
        weeks = schedule(shoppers, sessions, days, engine.snapshot.as_of_ms, settings.mall.timezone)
        coming = (None if arrivals is None or not len(weeks)
                  else Arrivals(arrivals, weeks[0].now_ms, days, seed))
        arrived = np.zeros(0, np.int64) if arrivals is None else arrivals.product_id.to_numpy(np.int64)
        for week in tqdm(weeks, desc="sessions", unit="session", disable=not progress):
            if coming is not None:
                coming.list_due(engine, state, week.now_ms)
            play_session(engine, state, shoppers, week, page_size, ColdStartSettings(), arrived)
    finally:
        engine.close()
    return pd.DataFrame([asdict(w) for w in weeks]).sort_values("session").reset_index(drop=True)


def arm_figures(frame: pd.DataFrame, idx: np.ndarray) -> dict:
    """An arm's totals and the new products' shares (of impressions, orders, GMV) with their
    percentile bootstrap intervals over sessions."""
    out: dict = {"sessions": len(frame), "pages": int(frame.pages.sum()), "orders": int(frame.orders.sum()),
                 "gmv": float(frame.gmv.sum()), "new_orders": int(frame.new_orders.sum())}
    out["arrived_orders"] = int(frame.arrived_orders.sum())
    for who in ("new", "arrived"):
        for name in ("impressions", "orders", "gmv"):
            x, y = frame[f"{who}_{name}"].to_numpy(float), frame[name].to_numpy(float)
            share = float(x.sum() / max(y.sum(), 1e-12))
            boot = x[idx].sum(axis=1) / np.maximum(y[idx].sum(axis=1), 1e-12)
            out[f"{who}_share_of_{name}"] = {"value": share, "ci95": bootstrap_ci95(boot)}
    for name in ("gmv", "orders"):
        v = frame[name].to_numpy(float)
        mean = float(v.mean())
        out[f"{name}_per_session"] = {"value": mean, "ci95": normal_ci95(mean, mean_se(v))}
    return out


def compare_week(control: pd.DataFrame, treatment: pd.DataFrame, idx: np.ndarray) -> dict:
    """Treatment minus control, paired by session (the same shoppers, hours and dice)."""
    if not (control.user_id.to_numpy() == treatment.user_id.to_numpy()).all():
        raise ValueError("the arms played different shoppers for the same session number")
    out: dict = {}
    for name in ("gmv", "orders"):
        d = treatment[name].to_numpy(float) - control[name].to_numpy(float)
        total = float(control[name].sum())
        out[f"{name}_per_session"] = {"difference": float(d.mean()), "ci95": normal_ci95(float(d.mean()),
                                                                                       mean_se(d)),
                                      "relative": float(d.sum() / total) if total else None}
    for who in ("new", "arrived"):
        share = {}
        for arm, f in (("c", control), ("t", treatment)):
            x, y = f[f"{who}_orders"].to_numpy(float), f.orders.to_numpy(float)
            share[arm] = (float(x.sum() / max(y.sum(), 1e-12)),
                          x[idx].sum(axis=1) / np.maximum(y[idx].sum(axis=1), 1e-12))
        out[f"{who}_share_of_orders"] = {"difference": share["t"][0] - share["c"][0],
                                         "ci95": bootstrap_ci95(share["t"][1] - share["c"][1])}
    return out


def run_cold_start_week(data: Path, bundle: Path, arms: dict[str, list[str]], sessions: int, days: int,
                        seed: int, page_size: int = 20, progress: bool = True,
                        arrivals: pd.DataFrame | None = None) -> dict:
    """Play the week under each arm (``arms``: name -> settings overrides, control first), listing
    ``arrivals`` during it, and compare them; the figures of :func:`arm_figures` and
    :func:`compare_week`."""
    if len(arms) != 2:
        raise ValueError(f"two arms (control, then treatment), got {len(arms)}")
    frames = {name: play_arm(data, bundle, o, sessions, days, seed, page_size, progress, arrivals)
              for name, o in arms.items()}
    idx = bootstrap_indices(sessions, 1000, seed)
    control, treatment = list(arms)
    return {"sessions": sessions, "days": days, "seed": seed, "bundle": str(bundle),
            "page_size": page_size, "arrivals": 0 if arrivals is None else len(arrivals),
            "arms": {n: {"overrides": arms[n], **arm_figures(f, idx)} for n, f in frames.items()},
            "control": control, "treatment": treatment,
            "comparison": compare_week(frames[control], frames[treatment], idx)}
