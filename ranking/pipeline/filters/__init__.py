"""Filters: remove candidates that must not be shown, each removal with its reason.

A filter returns a keep mask and, for every removed candidate, why (``banned``,
``out_of_stock``, ``unknown_product``, ``filter:price_min``, ``filter:free_shipping``, ``bought``,
``ignored``, ``rule_hide:<id>``...): nothing vanishes unexplained. One filter per file;
:func:`default_filters` is the order the pipeline runs.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.filters.badges import BadgeFilter
from ranking.pipeline.filters.governance import Governance
from ranking.pipeline.filters.known_products import KnownProducts
from ranking.pipeline.filters.live_history import LiveHistory
from ranking.pipeline.filters.merchandising import MerchandisingFilter
from ranking.pipeline.filters.request_filters import RequestFilters
from ranking.settings import BadgeSettings, LiveSettings, MerchandisingSettings, RulesSettings


class Filter(Protocol):
    name: str

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        """(keep mask, reason per candidate: strs, in an object or a numpy str array; reasons of
        kept ones are ignored)."""
        ...


def default_filters(settings: RulesSettings, live: LiveSettings | None = None,
                    merchandising: MerchandisingSettings | None = None,
                    badges: BadgeSettings | None = None) -> list[Filter]:
    return [KnownProducts(), Governance(settings), RequestFilters(), BadgeFilter(badges or BadgeSettings()),
            LiveHistory(live or LiveSettings()), MerchandisingFilter(merchandising)]


__all__ = ["BadgeFilter", "Filter", "Governance", "KnownProducts", "LiveHistory", "MerchandisingFilter",
           "RequestFilters", "default_filters"]
