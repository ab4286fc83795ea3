"""The pipeline's live pieces: the shopper context merging the live view, the live_history filter."""

from __future__ import annotations

import numpy as np

from ranking.live import LiveState
from ranking.pipeline import RankRequest
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.filters import LiveHistory
from ranking.recall.homepage_sources import ShopperContextBuilder
from ranking.settings import LiveSettings

T0 = 1_788_256_800_000


def _state() -> LiveState:
    live = LiveState(LiveSettings(ignore_after_impressions=2))
    live.catalog.describe(np.array([10, 11, 12, 13]), leaf=np.array([0, 1, 1, 2]))
    live.apply("categories", [{"category_id": 2, "consumable": True}])
    live.apply("impressions", [{"timestamp": T0 + i, "user_id": 5, "product_id": 10, "request_id": i}
                               for i in range(2)])
    live.apply("clicks", [{"timestamp": T0 + 10 + i, "user_id": 5, "product_id": p}
                          for i, p in enumerate((11, 12))])
    live.apply("orders", [{"timestamp": T0 + 20 + i, "user_id": 5, "product_id": p, "store_id": 1,
                           "price_paid": 3.0, "quantity": 1, "cancelled": False}
                          for i, p in enumerate((12, 13))])
    return live


def test_the_filter_drops_bought_non_consumables_and_ignored_cards_saying_which():
    view = _state().shopper_view(5)
    cands = CandidateSet(np.array([10, 11, 12, 13, 14]))
    f = LiveHistory(LiveSettings())
    keep, reason = f.apply(cands, RankRequest("homepage", 10, T0, 12, user_id=5, shopper=view), None)
    assert keep.tolist() == [False, True, False, True, True]
    assert reason[[0, 2]].tolist() == ["ignored", "bought"], "13 is consumable: it may come back"
    keep, _ = f.apply(cands, RankRequest("homepage", 10, T0, 12, user_id=5), None)
    assert keep.all(), "no live view: nothing dropped"
    search_off = LiveHistory(LiveSettings(exclude_surfaces=["homepage"]))
    keep, _ = search_off.apply(cands, RankRequest("search", 10, T0, 12, user_id=5, shopper=view), None)
    assert keep.all()


def test_a_pinned_card_is_not_dropped_as_ignored_but_a_bought_one_still_goes():
    view = _state().shopper_view(5)
    cands = CandidateSet(np.array([10, 11, 12, 13, 14]))
    cands.source_ranks["pinned"] = np.array([1, 0, 2, 0, 0], dtype=np.int32)  # 10 ignored, 12 bought
    keep, reason = LiveHistory(LiveSettings()).apply(
        cands, RankRequest("homepage", 10, T0, 12, user_id=5, shopper=view), None)
    assert keep.tolist() == [True, True, False, True, True], "the pin outlives the shopper passing it by"
    assert reason[2] == "bought"


def test_the_context_puts_the_live_history_in_front_of_the_frozen_one():
    arrays = {"product_ids": np.array([10, 11, 12, 13], np.int64), "product_leaf": np.array([0, 1, 1, 2]),
              "user_ids": np.array([1], np.int64), "recent_ptr": np.array([0, 1]),
              "recent_items": np.array([0], np.int64), "recent_weights": np.array([2.0], np.float32),
              "user_leaf_slot": np.zeros((1, 3, 3)), "consumable_leaf": np.array([2])}
    builder = ShopperContextBuilder(arrays)
    view = _state().shopper_view(5)
    anonymous = builder.build(5, 12, view)  # user 5 is unknown to the bundle
    assert anonymous.known and anonymous.recent_items.tolist() == [3, 2, 1]
    assert anonymous.recent_leaves[0] == 1, "leaf 1 holds most of the live interactions"
    assert anonymous.bought_leaves.tolist() == [1, 2]
    frozen = builder.build(1, 12)
    assert frozen.recent_items.tolist() == [0] and not frozen.live
    assert builder.build(1, 12, None).recent_items.tolist() == builder.build(1, 12).recent_items.tolist()
