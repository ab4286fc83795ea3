"""The subsidy channel's theme of the hour and its timed subsidy sessions.

On the subsidy channel (``RankRequest.channel == "subsidy"``) products of the time slot's
theme (morning grains & oil, afternoon food & daily, evening digital & beauty:
:mod:`ranking.mall_clock`) move up by ``channels.subsidy_theme_boost`` score deviations, so
they lead their slot (``channel_theme``). A *subsidy session* starts at each of
``channels.subsidy_session_hours`` (06:00, 12:00, 18:00 mall time) and lasts
``channels.subsidy_session_minutes``; during one, each theme product moves up by a further
``channels.subsidy_session_boost`` deviations x its subsidy depth over the deepest theme
subsidy among the candidates (``subsidy_session``: the deepest gets all of it; a mall that
records no depth gives every theme product all of it). Both are notes in ``explain``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.channel_pacing import minute_of_day
from ranking.features.inputs import slot_of_hour
from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.columns import product_column
from ranking.settings import ChannelSettings
from ranking.surfaces import SUBSIDY_CHANNEL


def in_session(minutes: float, settings: ChannelSettings) -> int | None:
    """The start hour of the subsidy session running ``minutes`` into the mall's day, or None."""
    for start in settings.subsidy_session_hours:
        if 0 <= minutes - 60 * start < settings.subsidy_session_minutes:
            return start
    return None


def theme_products(cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> np.ndarray:
    """Whether each candidate's leaf is themed at the request's time slot."""
    category = product_column(snapshot, cands, "category_id", missing=-1).astype(np.int64)
    leaf = snapshot.leaf_of_category(category)
    theme_slot = np.where(leaf >= 0, snapshot.leaf_theme_slot[np.maximum(leaf, 0)], -1)
    return theme_slot == int(slot_of_hour(np.array([request.hour]))[0])


@dataclass
class SubsidyTheme:
    """The channel's theme lead and, during a session, the deepest theme subsidies' boost."""

    settings: ChannelSettings
    timezone: str = "Asia/Shanghai"
    name: str = "subsidy_theme"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        if request.channel != SUBSIDY_CHANNEL or cands.scores is None or not len(cands):
            return
        theme = theme_products(cands, request, snapshot)
        if not theme.any():
            return
        spread = score_spread(cands.scores)
        lead = self.settings.subsidy_theme_boost * spread
        if lead:
            cands.adjustments[theme] += lead
            note = {"rule": "channel_theme", "delta": lead,
                    "why": f"the subsidy channel's theme at {request.hour:02d}:00"}
            for i in np.flatnonzero(theme).tolist():
                cands.rule_notes[i].append(note)
        start = in_session(request.hour * 60 + minute_of_day(request.now_ms, self.timezone) % 60,
                           self.settings)
        if start is None or not self.settings.subsidy_session_boost:
            return
        depth = product_column(snapshot, cands, "subsidy_depth", missing=0.0)
        deepest = float(depth[theme].max())
        weight = depth / deepest if deepest > 0 else np.ones(len(cands))
        moves = np.where(theme, self.settings.subsidy_session_boost * spread * weight, 0.0)
        cands.adjustments += moves
        for i in np.flatnonzero(moves > 0).tolist():
            cands.rule_notes[i].append({"rule": "subsidy_session", "delta": float(moves[i]),
                                        "why": f"the {start:02d}:00 subsidy session: subsidy depth "
                                               f"{depth[i]:.0%} of the theme's deepest {deepest:.0%}"})
