"""The known-products filter: ids the bundle does not know are dropped as ``unknown_product``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.filters.reasons import no_reasons


@dataclass
class KnownProducts:
    """Drops ids the bundle does not know (a caller's stale or mistyped candidates)."""

    name: str = "known_products"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        # the located rows the governance filter reads next (CandidateSet.rows_in): one lookup
        keep = cands.rows_in(snapshot.products)[1].copy()
        if keep.all():  # nearly always: no str array of the reasons
            return keep, no_reasons(len(cands))
        return keep, np.where(keep, "", "unknown_product")
