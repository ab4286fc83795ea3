"""Adjusters: explicit business rules that move candidates' ranking scores, with a note.

Adjusters never touch the model score; they add a move to ``CandidateSet.adjustments``
and a note per candidate that ``explain`` shows. Moves are in units of the candidates'
score standard deviation (:func:`score_spread`), so a rule means the same on any model:
``adjustment = weight x std(model scores)`` (std taken as 1 below two candidates). The
exception is :class:`ValueTilt`, which trades purchases for order value in the raw
score's units (log-odds with the funnel model). One adjuster per file;
:func:`default_adjusters` is the order the pipeline runs.
"""

from __future__ import annotations

from typing import Protocol

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.adjusters.demotion import Demotion
from ranking.pipeline.adjusters.merchandising import MerchandisingMoves
from ranking.pipeline.adjusters.session_intent import SessionIntent
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.adjusters.theme_boost import ThemeBoost
from ranking.pipeline.adjusters.traffic_policy import TrafficPolicy
from ranking.pipeline.adjusters.value_tilt import ValueTilt
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.settings import LiveSettings, MerchandisingSettings, RulesSettings


class Adjuster(Protocol):
    name: str

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        ...


def default_adjusters(settings: RulesSettings, score_is_log_odds: bool = False,
                      live: LiveSettings | None = None,
                      merchandising: MerchandisingSettings | None = None) -> list[Adjuster]:
    return [Demotion(settings), TrafficPolicy(settings), ThemeBoost(settings),
            SessionIntent(live or LiveSettings()),
            ValueTilt(settings, score_is_log_odds), MerchandisingMoves(merchandising)]


__all__ = ["Adjuster", "Demotion", "MerchandisingMoves", "SessionIntent", "ThemeBoost", "TrafficPolicy",
           "ValueTilt",
           "default_adjusters",
           "score_spread"]
