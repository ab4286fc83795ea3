"""Fold floor: grade D products stay out of the first ``rules.traffic_fold`` positions.

The traffic policy's rule for grade D (:mod:`ranking.pipeline.traffic_grades`): each open slot
among the first ``traffic_fold`` gets the best remaining candidate of another grade (or none),
keeping the shelf spread's caps (store, category, brand, subsidy share) where it can. A grade D card that
would have been in the fold by score says so in ``explain`` ("grade D: kept below position 6 by
the traffic policy"; noted on an explained page only). When only grade D candidates are left the
slot stays open and store diversity fills it (the floor gives way rather than leave a page short).
Slots placed before it (a requested subsidy slot: eligible grades only; a new-store exploration
slot) are left alone.
With ``rules.traffic_policy`` off or ``traffic_fold`` 0 it places nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.selectors.page_keys import GRADE, page_keys
from ranking.pipeline.selectors.shelf_spread import ShelfSpread
from ranking.pipeline.selectors.window_caps import PageCaps
from ranking.pipeline.traffic_grades import GRADES
from ranking.settings import RulesSettings

HEAD_PER_SLOT = 8  # candidates made plain ints per fold slot before the rest are (see ``fill``)


@dataclass
class FoldFloor:
    """Grade D below the fold (module docstring)."""

    settings: RulesSettings
    name: str = "traffic_policy"

    def fill(self, page: PageDraft, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
             rng: np.random.Generator) -> None:
        fold = min(self.settings.traffic_fold, page.size)
        if not self.settings.traffic_policy or fold == 0:
            return
        # each candidate's grade from the placement's keys (one take a page: ``page_keys``)
        grade_d = page_keys(page, snapshot, cands)[:, GRADE] == GRADES.index("D")
        if not grade_d.any():
            return
        order, used = page.order, page.used
        rest = order[~(used | grade_d)[order]]  # the other grades, not placed, in score order
        # the first ``fold`` rows not placed, by score: within the first fold + (rows placed)
        prefix = order[:fold + int(np.count_nonzero(used))]
        in_fold_by_score = prefix[~used[prefix]][:fold]
        # as plain ints, the first few only (~400 made ints cost ~10 us; the fold's few slots nearly
        # always take one of the first): the rest join when none of those fits a slot
        head = HEAD_PER_SLOT * fold
        left, more = rest[:head].tolist(), rest[head:]
        spread = ShelfSpread(self.settings)
        caps = PageCaps.of(page, spread.caps(page, cands, request, snapshot))  # the spread's, shared with it
        for p in range(fold):
            if page.slots[p] >= 0:
                continue
            at = caps.first_fitting(left, p) if left else -1
            if at < 0 and len(more):  # none of the first fits: the first that does among them all
                left, more = left + more.tolist(), more[:0]
                at = caps.first_fitting(left, p)
            if not left:
                break
            caps.put(p, left.pop(max(at, 0)))
        if not request.explain:  # the notes below: only ``explain`` shows them
            return
        why = f"grade D: kept below position {self.settings.traffic_fold} by the traffic policy"
        for r in sorted(in_fold_by_score.tolist()):
            if grade_d[r] and not page.used[r]:
                cands.rule_notes[r].append({"rule": self.name, "why": why})
