"""The live-history filter: what the shopper bought for good, or kept passing by, stops coming back.

Reads the request's live view (``RankRequest.shopper``, :class:`ranking.live.ShopperView`):
its ``exclude`` holds the products the shopper bought whose leaf is not consumable
(``bought``: a second sofa is not wanted next week; a consumable, bought again and again, may
come back) and the cards shown ``live.ignore_after_impressions`` times within
``live.ignore_window_hours`` without a click (``ignored``). It runs on the surfaces of
``live.exclude_surfaces`` (a rerank follows its request's surface); without a live view
(live off or degraded) it keeps everything. A product an operator's rule pins (the ``pinned``
source, :mod:`ranking.merchandising.pins`) is never dropped as ``ignored``: the pin is the
operator's decision for every shopper, and a pin that vanished after a few views would look
broken; a bought non-consumable still goes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.membership import isin_few
from ranking.merchandising.pins import PINNED
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.filters.reasons import no_reasons
from ranking.settings import LiveSettings


@dataclass
class LiveHistory:
    """Drops the shopper's bought non-consumables (``bought``) and ignored cards (``ignored``)."""

    settings: LiveSettings
    name: str = "live_history"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        view = request.shopper if request is not None else None
        if view is None or not len(view.exclude) or request.surface not in self.settings.exclude_surfaces:
            return np.ones(len(cands), dtype=bool), no_reasons(len(cands))
        reason = np.full(len(cands), "", dtype=object)
        out = isin_few(cands.product_ids, view.exclude)
        bought = isin_few(cands.product_ids, view.bought)
        if PINNED in cands.source_ranks:  # pinned by the operator: kept unless bought
            out &= bought | (cands.source_ranks[PINNED] == 0)
        reason[out & bought] = "bought"
        reason[out & ~bought] = "ignored"
        return reason == "", reason
