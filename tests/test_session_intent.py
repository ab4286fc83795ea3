"""Session intent alone: how far a candidate of the shopper's current leaves moves, and its note."""

from __future__ import annotations

import numpy as np
import pytest
from rules_mall import rules_request, rules_snapshot, scored

from ranking.pipeline.adjusters.session_intent import SessionIntent
from ranking.pipeline.adjusters.spread import score_spread
from ranking.settings import LiveSettings


class View:
    """A live view whose last minutes were spent in ``shares`` (leaf position -> share)."""

    def __init__(self, shares: dict[int, float]) -> None:
        self.shares = shares

    def leaf_affinity(self, within_ms: int) -> dict[int, float]:
        return dict(self.shares)


def test_candidates_of_the_shoppers_leaves_move_by_their_share_and_each_gets_its_leafs_note():
    snap = rules_snapshot()  # products 100-114 in leaf 11 (position 0), 115-129 in leaf 12 (1)
    ids = np.array([120, 101, 999, 125, 100, 114, 129], np.int64)  # 999: not in the catalog
    c = scored(snap, ids)
    c.rule_notes[1].append({"rule": "earlier"})  # a note already there stays first
    settings = LiveSettings(intent_boost=0.5, intent_window_minutes=30)
    SessionIntent(settings).apply(c, rules_request(shopper=View({0: 0.75, 1: 0.25, 77: 1.0})), snap)
    spread = score_spread(c.scores)
    leaf = {120: 1, 101: 0, 125: 1, 100: 0, 114: 0, 129: 1}
    share = {0: 0.75, 1: 0.25}
    for i, product in enumerate(ids.tolist()):
        notes = [n for n in c.rule_notes[i] if n["rule"] == "session_intent"]
        if product not in leaf:
            assert c.adjustments[i] == 0 and notes == []
            continue
        assert c.adjustments[i] == pytest.approx(0.5 * share[leaf[product]] * spread)
        why = f"{share[leaf[product]]:.0%} of the shopper's last 30 minutes was in this category"
        assert notes == [{"rule": "session_intent", "delta": float(c.adjustments[i]), "why": why}]
    assert c.rule_notes[1][0] == {"rule": "earlier"} and len(c.rule_notes[1]) == 2
    assert c.rule_notes[0][0] is c.rule_notes[3][0]  # one note per leaf, shared by its cards


def test_a_leafs_note_is_made_only_when_a_card_of_it_is_read(monkeypatch):
    import ranking.pipeline.adjusters.session_intent as module

    snap = rules_snapshot()  # products 100-114 in leaf 11 (position 0), 115-129 in leaf 12 (1)
    made = []
    real = module._note
    monkeypatch.setattr(module, "_note", lambda *a: made.append(a[-1]) or real(*a))
    c = scored(snap, np.array([120, 101, 125], np.int64))
    request = rules_request(shopper=View({0: 0.75, 1: 0.25}))
    SessionIntent(LiveSettings(intent_boost=0.5)).apply(c, request, snap)
    assert made == [] and c.adjustments.all()
    assert c.rule_notes[1][0]["why"].startswith("75%") and made == [0]  # leaf 11's note only
    assert c.rule_notes[0][0] is c.rule_notes[2][0] and made == [0, 1]


def test_no_view_or_no_leaf_of_the_page_moves_nothing():
    snap = rules_snapshot()
    settings = LiveSettings(intent_boost=0.5, intent_window_minutes=30)
    # 77: a leaf none of the candidates is in (past the leaves); -1: no leaf, as 999's
    for view in (None, View({}), View({77: 1.0}), View({-1: 1.0})):
        c = scored(snap, np.array([100, 999, 120], np.int64))
        SessionIntent(settings).apply(c, rules_request(shopper=view), snap)
        assert not c.adjustments.any() and not any(c.rule_notes)


def test_a_products_table_swapped_with_new_categories_moves_candidates_by_their_new_leaf():
    """The leaf per product is kept per products table (``LEAF_POSITIONS``): a table swapped
    whole, as the live catalog swaps it, is read anew."""
    from ranking.features.snapshot import EntityTable

    snap = rules_snapshot()  # 100-114 in leaf 11 (position 0), 115-129 in leaf 12 (1)
    settings = LiveSettings(intent_boost=0.5, intent_window_minutes=30)
    view = View({0: 1.0})
    ids = np.array([101, 120], np.int64)
    before = scored(snap, ids)
    SessionIntent(settings).apply(before, rules_request(shopper=view), snap)
    assert before.adjustments[0] > 0 and before.adjustments[1] == 0
    columns = dict(snap.products.columns)
    columns["category_id"] = np.where(snap.products.ids == 120, 11, columns["category_id"]).astype(np.float32)
    snap.products = EntityTable(snap.products.ids, columns)  # 120 moved to leaf 11
    after = scored(snap, ids)
    SessionIntent(settings).apply(after, rules_request(shopper=view), snap)
    assert after.adjustments[1] == pytest.approx(after.adjustments[0]) and after.adjustments[1] > 0
    assert after.rule_notes[1][0]["why"] == "100% of the shopper's last 30 minutes was in this category"
