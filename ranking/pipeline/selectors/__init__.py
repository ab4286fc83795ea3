"""Placement policies: the selectors that fill a page's slots, run in sequence.

Each selector fills some of the empty slots of one :class:`PageDraft` (the candidates in
rank order, their stores, the slots placed so far and each slot's propensity) and notes
why on the cards it placed. :func:`default_selectors` is the order
:class:`~ranking.pipeline.selector.Selector` runs them: the operator's pinned slots
(:mod:`.pinned_slots`), then requested subsidy slots, then
new-store exploration slots, then (when given ``cold_start`` settings, as the engine does) the
cold-start bandit's slots for new products (:mod:`.cold_start`), then the traffic policy's fold
floor (no grade D in the first ``rules.traffic_fold`` slots), then every other slot with the
shelf spread (leaf category, brand and store caps in a sliding window, the surface's subsidy
share), and last the fewest categories a page shows (bottom cards of repeated leaves swapped for
the best of missing ones).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors.cold_start import ColdStartSlots
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.selectors.exploration_slots import ExplorationSlots
from ranking.pipeline.selectors.fold_floor import FoldFloor
from ranking.pipeline.selectors.min_categories import MinCategories
from ranking.pipeline.selectors.pinned_slots import PinnedSlots
from ranking.pipeline.selectors.shelf_spread import ShelfSpread
from ranking.pipeline.selectors.store_diversity import StoreDiversity
from ranking.pipeline.selectors.subsidy_slots import SubsidySlots
from ranking.settings import ColdStartSettings, MerchandisingSettings, RulesSettings


class PagePolicy(Protocol):
    name: str

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        """Place candidates into some of ``page``'s empty slots."""
        ...


def default_selectors(settings: RulesSettings, merchandising: MerchandisingSettings | None = None,
                      cold_start: ColdStartSettings | None = None) -> list[PagePolicy]:
    """The placement policies in order; ``cold_start`` None: no cold-start slots (offline callers
    that build a pipeline without the engine)."""
    cold = [ColdStartSlots(cold_start)] if cold_start is not None else []
    return [PinnedSlots(merchandising), SubsidySlots(settings), ExplorationSlots(settings), *cold,
            FoldFloor(settings), ShelfSpread(settings), MinCategories(settings)]


__all__ = ["ColdStartSlots", "ExplorationSlots", "FoldFloor", "MinCategories", "PageDraft", "PagePolicy",
           "PinnedSlots", "ShelfSpread",
           "StoreDiversity",
           "SubsidySlots", "default_selectors"]
