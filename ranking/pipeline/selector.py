"""The selector: orders candidates by model score plus rule moves and places the page.

The placement policies run in sequence over one :class:`~ranking.pipeline.selectors.PageDraft`
(:func:`~ranking.pipeline.selectors.default_selectors`, one per file in
:mod:`ranking.pipeline.selectors`):

1. **Subsidy slots** — positions the request asks for (``subsidy_slots``, 1-based) get
   the best remaining big-brand-subsidy candidates.
2. **Exploration slots** — on the homepage, positions from settings
   ``rules.exploration_slots`` get a product of a new store drawn uniformly from the
   ``rules.exploration_pool`` best new-store candidates; its propensity (1 / pool size)
   is logged with the impression so counterfactual evaluation can use it.
2b. **Cold-start slots** — with the engine's ``cold_start`` settings, the surface's budget
   positions get a new product drawn by Thompson sampling (:mod:`.selectors.cold_start`,
   docs/cold_start.md), its propensity logged the same way.
3. **The fold floor** — grade D below the first ``rules.traffic_fold`` positions.
4. **Everything else** in order of score + adjustments, subject to the **shelf spread**
   (:mod:`ranking.pipeline.selectors.shelf_spread`): per surface, at most so many cards of one
   leaf category and of one brand in any ``spread_window`` consecutive slots, store
   diversity (at most ``store_diversity_max`` cards of one store in any
   ``store_diversity_window``), and at most ``subsidy_share_max`` of the page in the subsidy
   channel. A card that would break a cap waits for the next slot where it fits; when
   nothing else is left the caps give way one at a time (and the note says which).

Deterministic cards have propensity 1. Ties in score are broken by product id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.selectors import PageDraft, PagePolicy, default_selectors
from ranking.pipeline.selectors.page_keys import STORE, candidate_keys, page_keys
from ranking.settings import RulesSettings


@dataclass
class Placement:
    rows: np.ndarray  # candidate rows in page order
    propensity: np.ndarray  # probability this card was placed here by this policy


class Selector:
    """Orders and places one page (see the module docstring for the rules)."""

    def __init__(self, settings: RulesSettings, policies: Sequence[PagePolicy] | None = None) -> None:
        self.settings = settings
        self.policies = list(policies) if policies is not None else default_selectors(settings)

    def place(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot,
              rng: np.random.Generator) -> Placement:
        n = len(cands)
        size = min(request.page_size, n)
        if size == 0:
            return Placement(np.zeros(0, dtype=np.int64), np.zeros(0))
        rank_score = (cands.scores if cands.scores is not None else np.zeros(n)) + cands.adjustments
        order = rank_order(rank_score, cands.product_ids)
        keys = candidate_keys(snapshot, cands)  # store, leaf, brand: one take for every selector
        page = PageDraft(order, keys[:, STORE], size)
        page.once(page_keys, lambda: keys)
        for policy in self.policies:
            policy.fill(page, cands, request, snapshot, rng)
        keep = page.slots >= 0
        return Placement(page.slots[keep], page.propensity[keep])


def rank_order(rank_score: np.ndarray, product_ids: np.ndarray) -> np.ndarray:
    """Rows by ``rank_score``, highest first, ties by product id: ``np.lexsort((product_ids,
    -rank_score))``. When no two scores are equal (and none is NaN) that order is the only one, and
    one unstable ``argsort`` finds it in about half lexsort's time (~15 us of a 500-candidate page);
    a page with a tie (or NaN, or 0.0 beside -0.0) is sorted by lexsort as before."""
    key = -rank_score
    order = np.argsort(key)
    ranked = key[order]
    if len(ranked) and not np.isnan(ranked[-1]) and not (ranked[1:] == ranked[:-1]).any():
        return order  # NaN sorts last; equal neighbours are a tie
    return np.lexsort((product_ids, key))
