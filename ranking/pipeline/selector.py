"""The selector: orders candidates by model score plus rule moves and places the page.

Placement, in this order:

1. **Subsidy slots** — positions the request asks for (``subsidy_slots``, 1-based) get
   the best remaining big-brand-subsidy candidates.
2. **Exploration slots** — on the homepage, positions from settings
   ``rules.exploration_slots`` get a product of a new store drawn uniformly from the
   ``rules.exploration_pool`` best new-store candidates; its propensity (1 / pool size)
   is logged with the impression so counterfactual evaluation can use it.
3. **Everything else** in order of score + adjustments, subject to **store diversity**:
   at most ``store_diversity_max`` cards of one store in any ``store_diversity_window``
   consecutive slots. A card that would break it waits for the next slot where it fits;
   when nothing else is left the rule is relaxed (and the note says so).

Deterministic cards have propensity 1. Ties in score are broken by product id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.settings import RulesSettings


@dataclass
class Placement:
    rows: np.ndarray  # candidate rows in page order
    propensity: np.ndarray  # probability this card was placed here by this policy


def _store_of(cands: CandidateSet, snapshot: FeatureSnapshot) -> np.ndarray:
    rows = snapshot.products.rows(cands.product_ids)
    return snapshot.products.take("store_id", rows, missing=-1).astype(np.int64)


def _flag(cands: CandidateSet, snapshot: FeatureSnapshot, column: str) -> np.ndarray:
    rows = snapshot.products.rows(cands.product_ids)
    if column not in snapshot.products.columns:
        return np.zeros(len(cands), dtype=bool)
    return snapshot.products.take(column, rows, missing=0.0) > 0


def _new_store(cands: CandidateSet, snapshot: FeatureSnapshot, stores: np.ndarray) -> np.ndarray:
    if "new_store" not in snapshot.stores.columns:
        return np.zeros(len(cands), dtype=bool)
    return snapshot.stores.take("new_store", snapshot.stores.rows(stores), missing=0.0) > 0


class Selector:
    """Orders and places one page (see the module docstring for the rules)."""

    def __init__(self, settings: RulesSettings) -> None:
        self.settings = settings

    def place(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
              rng: np.random.Generator) -> Placement:
        n = len(cands)
        size = min(request.page_size, n)
        if size == 0:
            return Placement(np.zeros(0, dtype=np.int64), np.zeros(0))
        rank_score = (cands.scores if cands.scores is not None else np.zeros(n)) + cands.adjustments
        order = np.lexsort((cands.product_ids, -rank_score))
        stores = _store_of(cands, snapshot)
        slots = np.full(size, -1, dtype=np.int64)
        propensity = np.ones(size)
        used = np.zeros(n, dtype=bool)

        # 1. subsidy slots
        subsidy = _flag(cands, snapshot, "subsidy") if request.subsidy_slots else np.zeros(n, bool)
        subsidy_rows = [int(r) for r in order if subsidy[r]]
        for slot in sorted(set(request.subsidy_slots)):
            if 1 <= slot <= size and slots[slot - 1] < 0:
                while subsidy_rows and used[subsidy_rows[0]]:
                    subsidy_rows.pop(0)
                if not subsidy_rows:
                    break
                r = subsidy_rows.pop(0)
                slots[slot - 1], used[r] = r, True
                cands.rule_notes[r].append({"rule": "subsidy_slot", "position": slot,
                                            "why": "big-brand subsidy channel slot requested"})

        # 2. exploration slots for new stores (homepage)
        if request.surface == "homepage" and self.settings.exploration_slots:
            new = _new_store(cands, snapshot, stores)
            for slot in self.settings.exploration_slots:
                if not (1 <= slot <= size) or slots[slot - 1] >= 0:
                    continue
                pool = [r for r in order if new[r] and not used[r]][: self.settings.exploration_pool]
                if not pool:
                    break
                r = pool[int(rng.integers(len(pool)))]
                slots[slot - 1], used[r] = r, True
                propensity[slot - 1] = 1.0 / len(pool)
                cands.rule_notes[r].append({
                    "rule": "exploration", "position": slot, "propensity": 1.0 / len(pool),
                    "why": f"new-store exploration slot, drawn from {len(pool)} candidates"})

        # 3. the rest, with store diversity
        cap, window = self.settings.store_diversity_max, self.settings.store_diversity_window
        stream = [r for r in order if not used[r]]
        deferred: list[int] = []

        def fits(r: int, p: int) -> bool:
            s = stores[r]
            for start in range(max(0, p - window + 1), p + 1):
                placed = slots[start : min(start + window, size)]
                count = sum(1 for q in placed if q >= 0 and stores[q] == s)
                if count + 1 > cap:
                    return False
            return True

        for p in range(size):
            if slots[p] >= 0:
                continue
            chosen, waited = -1, False
            for i, r in enumerate(deferred):
                if fits(r, p):
                    chosen, waited = deferred.pop(i), True
                    break
            while chosen < 0 and stream:
                r = stream.pop(0)
                if fits(r, p):
                    chosen = r
                else:
                    deferred.append(r)
            relaxed = False
            if chosen < 0 and deferred:
                chosen, relaxed = deferred.pop(0), True
            if chosen < 0:
                break
            slots[p], used[chosen] = chosen, True
            if relaxed:
                cands.rule_notes[chosen].append({
                    "rule": "store_diversity", "position": p + 1,
                    "why": "diversity relaxed: no other candidate left"})
            elif waited:
                cands.rule_notes[chosen].append({
                    "rule": "store_diversity", "position": p + 1,
                    "why": f"at most {cap} cards of store {int(stores[chosen])} in any {window} "
                           "consecutive slots"})
        keep = slots >= 0
        return Placement(slots[keep], propensity[keep])
