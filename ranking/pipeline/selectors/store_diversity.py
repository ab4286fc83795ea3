"""Store diversity: every slot left, in score order, with at most so many cards of one store.

At most ``rules.store_diversity_max`` cards of one store in any
``rules.store_diversity_window`` consecutive slots. A card that would break it waits for
the next slot where it fits; when nothing else is left the rule is relaxed (and the note
says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors.draft import PageDraft
from ranking.settings import RulesSettings


@dataclass
class StoreDiversity:
    """Fills the remaining slots in score order, keeping stores apart (module docstring)."""

    settings: RulesSettings
    name: str = "store_diversity"

    def fits(self, page: PageDraft, r: int, p: int) -> bool:
        """Whether candidate ``r`` at 0-based slot ``p`` keeps every window within the cap."""
        cap, window = self.settings.store_diversity_max, self.settings.store_diversity_window
        s = page.stores[r]
        for start in range(max(0, p - window + 1), p + 1):
            placed = page.slots[start : min(start + window, page.size)]
            count = sum(1 for q in placed if q >= 0 and page.stores[q] == s)
            if count + 1 > cap:
                return False
        return True

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        stream = [r for r in page.order if not page.used[r]]
        deferred: list[int] = []
        for p in range(page.size):
            if page.slots[p] >= 0:
                continue
            chosen, waited = -1, False
            for i, r in enumerate(deferred):
                if self.fits(page, r, p):
                    chosen, waited = deferred.pop(i), True
                    break
            while chosen < 0 and stream:
                r = stream.pop(0)
                if self.fits(page, r, p):
                    chosen = r
                else:
                    deferred.append(r)
            relaxed = False
            if chosen < 0 and deferred:
                chosen, relaxed = deferred.pop(0), True
            if chosen < 0:
                break
            page.put(p, chosen)
            if relaxed or waited:
                cands.rule_notes[chosen].append({"rule": self.name, "position": p + 1,
                                                 "why": self._why(page, chosen, relaxed)})

    def _why(self, page: PageDraft, row: int, relaxed: bool) -> str:
        if relaxed:
            return "diversity relaxed: no other candidate left"
        return (f"at most {self.settings.store_diversity_max} cards of store {int(page.stores[row])} in any "
                f"{self.settings.store_diversity_window} consecutive slots")
