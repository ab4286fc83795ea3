"""Session intent: products of the leaves the shopper is in right now move up.

Reads the request's live view (``RankRequest.shopper``, :class:`ranking.live.ShopperView`):
the share of the shopper's interactions of the last ``live.intent_window_minutes`` per leaf
(:meth:`~ranking.live.ShopperView.leaf_affinity`) is their intent. A candidate of such a leaf
moves up by ``live.intent_boost`` x that share score deviations: three clicks on phones a
moment ago put phones on the next page, however little the bundle's frozen history knew.
Without a live view (live off or degraded, a shopper with no recent interaction) nothing moves.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import LEAF_POSITIONS
from ranking.pipeline.rule_notes import MadeNotes
from ranking.settings import LiveSettings


@functools.lru_cache(maxsize=4096)
def _why(share: float, window_minutes: float) -> str:
    """A leaf's note text (a share is a count over the window's interactions: few distinct)."""
    return f"{share:.0%} of the shopper's last {window_minutes:g} minutes was in this category"


@dataclass
class SessionIntent:
    """Candidates in the leaves of the shopper's last minutes move up (``live.intent_boost``)."""

    settings: LiveSettings
    name: str = "session_intent"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot) -> None:
        view = request.shopper if request is not None else None
        if view is None or self.settings.intent_boost == 0 or cands.scores is None or not len(cands):
            return
        affinity = view.leaf_affinity(int(self.settings.intent_window_minutes * 60_000))
        if not affinity:
            return
        products = snapshot.products  # read once: the live catalog swaps the table whole
        if "category_id" in products.columns:
            leaf = LEAF_POSITIONS.candidates(products, cands, products.columns["category_id"], snapshot,
                                             snapshot.leaf_ids)
        else:  # as product_column reads a missing column: -1 for every candidate
            leaf = snapshot.leaf_of_category(np.full(len(cands), -1, np.int64))
        # each candidate's leaf's index in ``affinity`` (-1: none) by one take of a table over the
        # leaves (the last entry: a candidate of no leaf), not a sort and a binary search per page
        n_leaves = len(snapshot.leaf_ids)
        index_of_leaf = np.full(n_leaves + 1, -1, np.intp)
        for j, at in enumerate(affinity):  # a shopper's few leaves, set one by one
            if 0 <= at < n_leaves:  # another leaf holds no candidate
                index_of_leaf[at] = j
        code = index_of_leaf[leaf]
        if code.max() < 0:
            return
        share = np.fromiter(itertools.chain(affinity.values(), (0.0,)), np.float64, len(affinity) + 1)
        move_of = self.settings.intent_boost * share * score_spread(cands.scores)  # per leaf, as per card
        move_of[-1] = 0.0  # code -1
        cands.adjustments += move_of[code]
        # one note per leaf, shared by its cards (their move is the same), noted as a code per
        # candidate (``RuleNotes.append_coded``): a live shopper's leaves hold ~300 of a homepage's
        # ~500 candidates, of which 20 are shown; notes are read, never changed, once written
        # each made when a shown card of its leaf is read (MadeNotes: ~15 leaves, a few shown)
        made = functools.partial(_note, self.name, move_of.tolist(), list(affinity.values()),
                                 self.settings.intent_window_minutes)
        cands.rule_notes.append_coded(code, MadeNotes(len(affinity), made))


def _note(rule: str, deltas: list[float], shares: list[float], window_minutes: float, j: int) -> dict:
    """The note of the shopper's ``j``-th leaf: its move and its share of the window."""
    return {"rule": rule, "delta": deltas[j], "why": _why(shares[j], window_minutes)}
