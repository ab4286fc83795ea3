"""The badge filter: a request's ``free_shipping=true`` (any badge code) keeps only the
candidates that carry the badge; every other one is dropped with ``filter:<badge>``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ranking.badges import BADGES
from ranking.card_badges import badge_matrix
from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.filters.reasons import no_reasons
from ranking.settings import BadgeSettings


@dataclass
class BadgeFilter:
    """Keeps the candidates carrying every badge of ``request.badges`` (ranking.badges codes)."""

    settings: BadgeSettings = field(default_factory=BadgeSettings)
    name: str = "badges"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        if not request.badges or not len(cands):
            return np.ones(len(cands), dtype=bool), no_reasons(len(cands))
        reason = np.full(len(cands), "", dtype=object)
        unknown = sorted(set(request.badges) - set(BADGES))
        if unknown:
            raise ValueError(f"unknown badge codes {unknown}; the codes are {list(BADGES)}")
        carried = badge_matrix(snapshot.products, cands.product_ids, request.now_ms,
                               self.settings.new_product_days)
        for code in request.badges:
            reason[(reason == "") & ~carried[:, BADGES.index(code)]] = f"filter:{code}"
        return reason == "", reason
