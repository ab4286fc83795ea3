"""Exposure pacing on the subsidy channel: brands behind their daily promise up, ahead down.

Each candidate's brand is looked up in the day's pacing (:mod:`ranking.channel_pacing`):
promise (``channels.pacing_daily_promise`` or the brand's override), impressions delivered on
the channel since mall-local midnight (``RankRequest.channel_exposures``, from the live state)
and the share of the promise due by now. A brand behind its pace moves up, one ahead moves
down, by ``channels.pacing_strength`` score deviations x :func:`~ranking.channel_pacing.pace_gap`,
noted on every card it moves (``exposure_pacing``). Off the subsidy channel, with
``channels.pacing`` off, or without live state (``channel_exposures`` None) nothing moves; the
page says whether pacing ran (``RankedPage.pacing``, set by the engine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.channel_pacing import delivered_by_brand, due_share, minute_of_day, pace_gap, promise_of
from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import product_column
from ranking.settings import ChannelSettings
from ranking.surfaces import SUBSIDY_CHANNEL


@dataclass
class ExposurePacing:
    """Moves the subsidy channel's candidates toward each brand's daily exposure promise."""

    settings: ChannelSettings
    timezone: str = "Asia/Shanghai"
    name: str = "exposure_pacing"

    def active(self, request: RankRequest) -> bool:
        return (request.channel == SUBSIDY_CHANNEL and self.settings.pacing
                and request.channel_exposures is not None)

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if not self.active(request) or cands.scores is None or not len(cands):
            return
        brand = product_column(snapshot, cands, "brand_id", missing=-1).astype(np.int64)
        brands, inverse = np.unique(brand, return_inverse=True)
        delivered = delivered_by_brand(request.channel_exposures, snapshot)
        got = np.array([delivered.get(int(b), 0) for b in brands], dtype=np.float64)
        promise = promise_of(brands, self.settings)
        share = due_share(minute_of_day(request.now_ms, self.timezone), self.settings)
        due = promise * share
        gap = np.where((brands >= 0) & (promise > 0), pace_gap(got, due, promise), 0.0)
        moves = (self.settings.pacing_strength * score_spread(cands.scores) * gap)[inverse]
        cands.adjustments += moves
        for i in np.flatnonzero(moves != 0).tolist():
            j = inverse[i]
            state = "behind" if gap[j] > 0 else "ahead of"
            cands.rule_notes[i].append({
                "rule": self.name, "delta": float(moves[i]),
                "why": f"brand {int(brands[j])} {state} its pace: {int(got[j])} of {due[j]:.0f} impressions "
                       f"due by now (promise {int(promise[j])} a day)"})
