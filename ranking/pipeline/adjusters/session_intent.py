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
from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.adjusters.spread import score_spread
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import LEAF_POSITIONS
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
        leaves = np.fromiter(affinity, np.int64, len(affinity))
        share = np.fromiter(affinity.values(), np.float64, len(affinity))
        order = np.argsort(leaves)
        sorted_leaves = leaves[order]
        at = np.searchsorted(sorted_leaves, leaf)
        hit = (sorted_leaves[np.minimum(at, len(leaves) - 1)] == leaf) & (leaf >= 0)  # leaf in leaves
        if not hit.any():
            return
        moves = np.zeros(len(cands))
        share_of_leaf = share[order]  # once, not per noted candidate
        moves[hit] = self.settings.intent_boost * share_of_leaf[at[hit]] * score_spread(cands.scores)
        cands.adjustments += moves
        # one note per leaf, shared by its cards (their move is the same): a dict and an f-string
        # per card were most of this adjuster's own time in a py-spy profile of search; notes are
        # read, never changed, once written. Noted in one call (``RuleNotes.append``): a live
        # shopper's leaves hold ~300 of a homepage's ~500 candidates, and a lookup per row was
        # most of this adjuster's time in a profile of the app's homepage with live clicks
        rows = np.flatnonzero(hit)
        leaf_at = at[rows]
        firsts, first_row = np.unique(leaf_at, return_index=True)
        window, shares = self.settings.intent_window_minutes, share_of_leaf.tolist()
        notes = {a: {"rule": self.name, "delta": float(moves[rows[f]]), "why": _why(shares[a], window)}
                 for a, f in zip(firsts.tolist(), first_row.tolist(), strict=True)}
        cands.rule_notes.append(rows, list(map(notes.__getitem__, leaf_at.tolist())))
