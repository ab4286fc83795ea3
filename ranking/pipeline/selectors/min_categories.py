"""Fewest categories: a page shows at least so many leaf categories (Vespa's min-groups idea).

After every slot is filled, while the page holds fewer than ``rules.spread_min_categories`` (per
surface) leaf categories, the best remaining candidate of a leaf the page lacks takes the lowest
slot whose card's leaf holds two or more cards on the page. A card another selector placed (a
requested subsidy slot, an exploration slot) and the traffic policy's fold (the first
``rules.traffic_fold`` slots, kept free of grade D) are never swapped, and the incoming card keeps
the surface's subsidy share (the store and brand caps are not re-checked for it: it is one card of a
leaf the page lacked, at the bottom). Unlike a category cap, the page keeps the model's order
everywhere but in the slots it swaps, at the bottom of the page, so it costs little of what the
model expected the page to earn; the card brought in says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.selectors.page_keys import CATEGORY, page_keys
from ranking.settings import RulesSettings

PLACED_BY_OTHERS = frozenset({"subsidy_slot", "exploration", "cold_start"})


@dataclass
class MinCategories:
    """Swaps bottom cards of repeated leaves for the best of missing ones (module docstring)."""

    settings: RulesSettings
    name: str = "min_categories"

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        need = self.settings.spread_min_categories.get(request.surface, 0)
        placed = page.slots[page.slots >= 0]
        if need <= 1 or not len(placed):
            return
        leaf = page_keys(page, snapshot, cands)[:, CATEGORY]  # read once a page (the selector's)
        shown = set(leaf[placed].tolist())
        if len(shown) >= need:  # nearly every page: nothing to swap, so none of the set-up below
            return
        subsidy = page.column(snapshot, cands, "subsidy") > 0
        share = self.settings.subsidy_share_max.get(request.surface, 1.0)
        subsidy_room = (math.floor(share * page.size + 1e-9) - int(subsidy[placed].sum())
                        if share < 1 else page.size)
        order = page.order[~page.used[page.order]]
        while len(shown) < need:
            fresh = order[~np.isin(leaf[order], list(shown)) & (leaf[order] >= 0)
                          & (~subsidy[order] | (subsidy_room > 0))]
            slot = self._lowest_repeated(page, cands, leaf, self._fold())
            if not len(fresh) or slot < 0:
                return
            row, out = int(fresh[0]), int(page.slots[slot])
            page.used[out] = False
            page.put(slot, row)
            subsidy_room += int(subsidy[out]) - int(subsidy[row])
            shown.add(int(leaf[row]))
            order = order[order != row]
            cands.rule_notes[row].append({
                "rule": self.name, "position": slot + 1,
                "why": f"brought in so the page shows at least {need} categories (it took the slot of a "
                       f"card whose category already had others on the page)"})

    def _fold(self) -> int:
        return self.settings.traffic_fold if self.settings.traffic_policy else 0

    @staticmethod
    def _lowest_repeated(page: PageDraft, cands: CandidateSet, leaf: np.ndarray, fold: int) -> int:
        """0-based lowest slot below the fold whose card's leaf has another card on the page and
        that no other selector placed (-1: none)."""
        rows = page.slots
        keys = np.where(rows >= 0, leaf[np.maximum(rows, 0)], -1)
        for p in range(page.size - 1, fold - 1, -1):
            row = int(rows[p])
            if row < 0 or keys[p] < 0 or (keys == keys[p]).sum() < 2 or page.propensity[p] < 1:
                continue
            if any(note.get("rule") in PLACED_BY_OTHERS and "position" in note
                   for note in cands.rule_notes[row]):
                continue
            return p
        return -1
