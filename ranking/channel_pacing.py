"""The subsidy channel's exposure pacing: each brand's daily promise, what is due by now, the gap.

Every participating brand (a brand with a product the subsidy channel may show,
:func:`ranking.recall.subsidy_channel.subsidy_eligible`) is promised
``channels.pacing_daily_promise`` impressions on the channel per mall-local day
(``channels.pacing_brand_promises`` overrides it per brand). By a moment of the day the
brand is *due* the promise times the share of the day's traffic already elapsed
(:func:`due_share`): on the mall's hourly traffic curve (``channels.pacing_hourly_traffic``,
the simulator's session hours) or, with ``channels.pacing_curve = "flat"``, the share of the
day's minutes. The *pacing error* is (delivered - due) / due; the
:class:`~ranking.pipeline.adjusters.exposure_pacing.ExposurePacing` adjuster moves a brand
behind its pace up and one ahead of it down by ``channels.pacing_strength`` score
deviations times :func:`pace_gap`. Delivered impressions are the live state's count of the
channel's served cards since mall-local midnight (:func:`day_start_ms`), handed to the request
as ``RankRequest.channel_exposures`` (product id -> impressions); :func:`pacing_report` is the
table ``GET /v1/channel/subsidy/pacing`` and ``shelfrank channels pacing`` show.

Worked example (mall curve): at 12:00 the hours 0-11 carry 29.0 of the curve's 94.5, so a
brand promised 500 a day is due 500 x 29.0 / 94.5 = 153.4 impressions; one that got 120 is
21.8% behind (pacing error -0.218) and moves up by 0.218 x strength deviations; one that got
260 is 69.5% ahead (+0.695) and moves down by 0.695 x strength.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ranking.features.snapshot import FeatureSnapshot
from ranking.mall_clock import fixed_offset_ms
from ranking.settings import ChannelSettings

DAY_MS = 86_400_000
MINUTE_MS = 60_000


def day_start_ms(now_ms: int, timezone: str) -> int:
    """UTC epoch ms of the mall-local midnight that began ``now_ms``'s day."""
    offset = fixed_offset_ms(timezone)
    if offset is not None:
        return int((now_ms + offset) // DAY_MS * DAY_MS - offset)
    local = pd.Timestamp(now_ms, unit="ms", tz="UTC").tz_convert(timezone)
    return int(local.normalize().tz_convert("UTC").value // 1_000_000)


def minute_of_day(now_ms: int, timezone: str) -> float:
    """Minutes since mall-local midnight."""
    return (now_ms - day_start_ms(now_ms, timezone)) / MINUTE_MS


def due_share(minutes: float, settings: ChannelSettings) -> float:
    """Share (0..1) of the day's promise due after ``minutes`` of the mall-local day."""
    minutes = min(max(minutes, 0.0), 1440.0)
    if settings.pacing_curve == "flat":
        return minutes / 1440.0
    curve = np.asarray(settings.pacing_hourly_traffic, dtype=np.float64)
    total = curve.sum()
    if total <= 0:
        return minutes / 1440.0
    hour = int(min(minutes // 60, 23))
    done = curve[:hour].sum() + curve[hour] * (minutes - 60 * hour) / 60.0
    return float(done / total)


def promise_of(brand_ids: np.ndarray, settings: ChannelSettings) -> np.ndarray:
    """Each brand's daily promise (impressions)."""
    overrides = settings.pacing_brand_promises
    default = settings.pacing_daily_promise
    return np.array([overrides.get(int(b), default) for b in brand_ids], dtype=np.float64)


def pace_gap(delivered: np.ndarray, due: np.ndarray, promise: np.ndarray) -> np.ndarray:
    """How far behind (+) or ahead (-) of its pace each brand is, relative to what is due (at least
    a twentieth of the promise, so the first minutes of a day do not swing it), clipped to [-1, 1]."""
    floor = np.maximum(due, np.maximum(promise / 20.0, 1.0))
    return np.clip((due - delivered) / floor, -1.0, 1.0)


def delivered_by_brand(exposures: Mapping[int, int], snapshot: FeatureSnapshot) -> dict[int, int]:
    """Impressions per brand id from impressions per product id (products the snapshot does not
    know are not counted)."""
    if not exposures:
        return {}
    ids = np.fromiter(exposures.keys(), dtype=np.int64, count=len(exposures))
    counts = np.fromiter(exposures.values(), dtype=np.float64, count=len(exposures))
    products = snapshot.products
    brand = products.take("brand_id", products.rows(ids), missing=-1).astype(np.int64)
    known = brand >= 0
    brands, inverse = np.unique(brand[known], return_inverse=True)
    sums = np.bincount(inverse, weights=counts[known], minlength=len(brands))
    return {int(b): int(n) for b, n in zip(brands, sums, strict=True)}


def pacing_report(brand_ids: np.ndarray, delivered: Mapping[int, int], now_ms: int, timezone: str,
                  settings: ChannelSettings) -> dict:
    """Per participating brand: promise, delivered today, due by now and the pacing error; and the
    mean absolute pacing error over brands with a promise."""
    brand_ids = np.unique(np.asarray(brand_ids, dtype=np.int64))
    minutes = minute_of_day(now_ms, timezone)
    share = due_share(minutes, settings)
    promise = promise_of(brand_ids, settings)
    got = np.array([delivered.get(int(b), 0) for b in brand_ids], dtype=np.float64)
    due = promise * share
    error = np.where(due > 0, (got - due) / np.maximum(due, 1e-9), np.nan)
    rows = [{"brand_id": int(b), "promise": int(p), "delivered": int(g), "due": round(float(d), 1),
             "pacing_error": None if np.isnan(e) else round(float(e), 4)}
            for b, p, g, d, e in zip(brand_ids, promise, got, due, error, strict=True)]
    paced = ~np.isnan(error)
    return {"day_start_ms": day_start_ms(now_ms, timezone), "minute_of_day": round(minutes, 1),
            "due_share": round(share, 4), "curve": settings.pacing_curve,
            "mean_abs_pacing_error": round(float(np.abs(error[paced]).mean()), 4) if paced.any() else None,
            "brands": rows}
