"""Store diversity: every slot left, in score order, with at most so many cards of one store.

At most ``rules.store_diversity_max`` cards of one store in any
``rules.store_diversity_window`` consecutive slots. A card that would break it waits for
the next slot where it fits; when nothing else is left the rule is relaxed (and the note
says so). The cap is one :class:`~ranking.pipeline.selectors.window_caps.WindowCap`; the shelf
spread (:mod:`ranking.pipeline.selectors.shelf_spread`) keeps it together with its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.selectors.window_caps import WindowCap, fill_in_order
from ranking.settings import RulesSettings


@dataclass
class StoreDiversity:
    """Fills the remaining slots in score order, keeping stores apart (module docstring)."""

    settings: RulesSettings
    name: str = "store_diversity"

    def cap(self, page: PageDraft) -> WindowCap:
        """The store cap over this page's candidates."""
        most, window = self.settings.store_diversity_max, self.settings.store_diversity_window
        return WindowCap(
            self.name, page.stores, most, window,
            lambda store: f"at most {most} cards of store {store} in any {window} consecutive slots",
            "diversity relaxed: no other candidate left")

    def fits(self, page: PageDraft, r: int, p: int) -> bool:
        """Whether candidate ``r`` at 0-based slot ``p`` keeps every window within the cap."""
        return bool(self.cap(page).allows(page, np.array([r]), p)[0])

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        fill_in_order(page, cands, [self.cap(page)])
