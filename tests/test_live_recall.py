"""Live recall: the shopper's own items (current leaf first), co-visited items, never excluded ones."""

from __future__ import annotations

import numpy as np

from ranking.live import LiveState, ShopperView
from ranking.live.recall import covisited, live_candidates, own_items
from ranking.settings import LiveSettings

T = 1_700_000_000_000


def test_own_items_rank_by_decayed_count_with_the_current_leaf_first() -> None:
    view = ShopperView(1, None, True, T, items=np.array([5, 4, 3, 3, 3]), leaves=np.array([9, 8, 7, 7, 7]))
    assert own_items(view, decay=0.9, leaf_boost=1.0).tolist() == [3, 5, 4]  # 3 was seen three times
    view.leaves = np.array([7, 8, 9, 9, 9])  # the shopper is in leaf 7 now: item 5's
    assert own_items(view, decay=0.9, leaf_boost=3.0).tolist() == [5, 3, 4]


def test_live_candidates_follow_the_session_and_drop_the_excluded() -> None:
    state = LiveState(LiveSettings())
    state.catalog.describe(np.arange(1, 30), leaf=np.arange(1, 30) % 3)
    rows = [{"request_id": 1, "timestamp": T + i * 1000, "user_id": u, "product_id": p, "position": 1}
            for i, (u, p) in enumerate([(2, 10), (2, 11), (3, 10), (3, 11), (1, 20), (1, 21), (1, 10)])]
    state.apply("clicks", rows)
    view = state.shopper_view(1)
    assert covisited(state, view, seeds=1)[0] == 11  # after 10, shoppers went to 11
    got = live_candidates(state, view, frozen=np.array([25, 26]), popular=np.array([27]), k=5)
    assert got[0] in (11, 21) and 10 not in got  # 10 is the item the shopper is on
    assert {11, 20, 21, 25} <= set(got.tolist())
    view.exclude = np.array([11])
    assert 11 not in live_candidates(state, view, np.array([25]), np.array([27]), k=5)
