"""A simulated day of the subsidy channel, pacing on against off: the pacing error and what it costs.

``experiment channel-pacing`` plays one mall-local day of ``pages`` subsidy-channel pages
through the bundle's real ``subsidy`` pipeline (the code the service runs), in time order:
each page's moment is drawn from the mall's hourly traffic (``channels.pacing_hourly_traffic``,
minutes uniform), its shopper from the closed loop's users
(:class:`~training.experiments.closed_loop.Shoppers`), and the impressions served so far today
are counted per product exactly as the live state counts the channel's exposure lines, and
handed to the next page as ``RankRequest.channel_exposures``. Both arms replay the same pages
(same shoppers, moments and seeds); only ``channels.pacing`` differs.

Each card is valued with the simulator's truth on the channel surface, as ``experiment
page-value`` values a homepage card: ``orders = e(slot) x P(click) x P(order | click)``,
``GMV = orders x price``. At the end of the day each participating brand's *pacing error* is
(delivered - promise) / promise; the headline is its mean absolute value over the brands
(MAPE), with the orders and GMV of the day and the pacing arm's lift over the unpaced one
(paired bootstrap over pages, 95%). The simulator's shoppers are served the channel without a
wall clock: the service's pacing reads the wall clock, so a day over HTTP would take a day.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ranking.channel_pacing import day_start_ms, delivered_by_brand, promise_of
from ranking.engine import Engine
from ranking.pipeline import RankRequest
from ranking.settings import Settings
from ranking.surfaces import CHANNEL, SUBSIDY_CHANNEL, SURFACE_CODES
from training.stats import bootstrap_indices

HOUR_MS = 3_600_000


def day_of_pages(settings: Settings, pages: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(minute of the day, hour) of ``pages`` channel pages on the mall's traffic curve, in time order."""
    rng = np.random.default_rng([seed, 29])
    curve = np.asarray(settings.channels.pacing_hourly_traffic, dtype=np.float64)
    hours = rng.choice(24, size=pages, p=curve / curve.sum())
    minutes = np.sort(hours * 60 + rng.random(pages) * 60)
    return minutes, (minutes // 60).astype(int)


def play_day(engine: Engine, shoppers, settings: Settings, pages: int, page_size: int, seed: int,
             pacing: bool) -> dict:
    """One arm's day: per page its expected orders and GMV; per brand its impressions."""
    from training.simulator.behaviour import examination

    minutes, hours = day_of_pages(settings, pages, seed)
    start = day_start_ms(engine.snapshot.as_of_ms, settings.mall.timezone)
    rng = np.random.default_rng([seed, 30])
    users = rng.choice(shoppers.user_ids, size=pages)
    served: dict[int, int] = {}
    orders, gmv = np.zeros(pages), np.zeros(pages)
    surface = SURFACE_CODES[CHANNEL]
    for i in range(pages):
        request = RankRequest(surface=CHANNEL, page_size=page_size, now_ms=start + int(minutes[i] * 60_000),
                              hour=int(hours[i]), user_id=int(users[i]), channel=SUBSIDY_CHANNEL, seed=i,
                              channel_exposures=dict(served) if pacing else None)
        cards = engine.rank(SUBSIDY_CHANNEL, request).cards
        if not cards:
            continue
        ids = np.array([c["product_id"] for c in cards], np.int64)
        for pid in ids.tolist():
            served[pid] = served.get(pid, 0) + 1
        n = len(ids)
        p_click, p_order = shoppers.truth.click_and_order_probability(
            np.full(n, users[i]), ids, np.full(n, hours[i]), np.full(n, surface))
        bought = examination(np.arange(1, n + 1), np.full(n, surface)) * p_click * p_order
        orders[i] = bought.sum()
        gmv[i] = (bought * np.array([c["price"] or 0.0 for c in cards])).sum()
    return {"orders": orders, "gmv": gmv, "served": served}


def pacing_errors(engine: Engine, served: dict[int, int], settings: Settings) -> dict[int, float]:
    """End of day: (delivered - promise) / promise per participating brand with a promise."""
    brands = engine.subsidy_brands()
    delivered = delivered_by_brand(served, engine.snapshot)
    promise = promise_of(brands, settings.channels)
    return {int(b): (delivered.get(int(b), 0) - p) / p for b, p in zip(brands, promise, strict=True) if p > 0}


def _paired_lift(a: np.ndarray, b: np.ndarray, seed: int) -> dict:
    """b's total over a's minus one, with a paired bootstrap 95% interval over pages."""
    idx = bootstrap_indices(len(a), 2000, seed)
    lifts = b[idx].sum(axis=1) / np.maximum(a[idx].sum(axis=1), 1e-12) - 1.0
    return {"lift": float(b.sum() / max(a.sum(), 1e-12) - 1.0),
            "ci95": [float(np.percentile(lifts, 2.5)), float(np.percentile(lifts, 97.5))]}


def channel_pacing(bundle: Path, data: Path, settings: Settings, pages: int = 400, page_size: int = 20,
                   seed: int = 7) -> dict:
    """Pacing on against off over one simulated day (module docstring)."""
    from training.experiments.closed_loop import Shoppers

    shoppers = Shoppers(data, seed, settings.simulator)
    arms = {}
    for name, on in (("unpaced", False), ("paced", True)):
        channels = settings.channels.model_copy(update={"pacing": on})
        arm_settings = settings.model_copy(update={"channels": channels})
        engine = Engine.load(bundle, arm_settings)
        try:
            day = play_day(engine, shoppers, arm_settings, pages, page_size, seed, on)
            errors = pacing_errors(engine, day["served"], arm_settings)
        finally:
            engine.close()
        values = np.array(list(errors.values()))
        arms[name] = {"orders": float(day["orders"].sum()), "gmv": float(day["gmv"].sum()),
                      "impressions": int(sum(day["served"].values())),
                      "mean_abs_pacing_error": float(np.abs(values).mean()) if len(values) else None,
                      "brands": len(values), "brands_short_by_half": int((values < -0.5).sum()),
                      "pacing_errors": {str(k): round(v, 4) for k, v in sorted(errors.items())},
                      "_orders": day["orders"], "_gmv": day["gmv"]}
    paced, unpaced = arms["paced"], arms["unpaced"]
    lift = {k: _paired_lift(unpaced[f"_{k}"], paced[f"_{k}"], seed) for k in ("orders", "gmv")}
    for arm in arms.values():
        arm.pop("_orders"), arm.pop("_gmv")
    return {"pages": pages, "page_size": page_size, "seed": seed,
            "daily_promise": settings.channels.pacing_daily_promise,
            "curve": settings.channels.pacing_curve, "arms": arms, "paced_over_unpaced": lift}
