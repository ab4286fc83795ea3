"""A served page's live shopper columns (one shopper: ``one_shopper_columns``, from small tables)
are, bit for bit and dtype for dtype, what training's many-request form
(``requests_live_columns``) gives the same shopper, on random views with the awkward cases: an
item seen twice, an id ignored twice, leaves unknown (-1 and below) on both sides, kinds out of
the weights' range, events after ``now``, the window's edge, no items, no ignored cards, a
candidate whose id is the lookup's end marker; and a page whose leaf ids are too large for a
table takes the many-request form."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.live import features as live_features
from ranking.live.state import ShopperView, ShopperViews
from ranking.settings import LiveSettings

NOW = 1_788_256_800_000
MIN = 60_000
SETTINGS = LiveSettings(intent_window_minutes=30, feature_half_life_minutes=45,
                        feature_kind_weights=[-0.0, 2.5, 4.0])


def _many(view: ShopperView, ids: np.ndarray, leaves: np.ndarray, item_leaves: np.ndarray,
          now_ms: int) -> dict[str, np.ndarray]:
    card_of = np.zeros(len(ids), np.int64)
    return live_features.requests_live_columns(ShopperViews.of(view, now_ms), None, card_of, ids, leaves,
                                               item_leaves, SETTINGS)


def _view(rng: np.random.Generator, products: np.ndarray, items: int, ignored: int) -> ShopperView:
    picked = rng.choice(products, items)  # with repeats: an item seen twice
    times = NOW - rng.choice([0, 30 * MIN, 45 * MIN], items) - rng.integers(-5 * MIN, 300 * MIN, items)
    kinds = rng.integers(-1, 5, items).astype(np.int8)  # some out of the weights' range
    lost = rng.choice(products, ignored)  # with repeats: an id ignored twice
    return ShopperView(7, None, True, NOW, items=picked.astype(np.int64), times_ms=times.astype(np.int64),
                       kinds=kinds, ignored=lost.astype(np.int64),
                       ignored_shown=rng.integers(1, 9, ignored).astype(np.int64))


def _bits_equal(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want)
    for name, col in want.items():
        assert got[name].dtype == col.dtype and got[name].shape == col.shape, name
        assert np.array_equal(got[name].view(np.int32), col.view(np.int32)), name


@pytest.mark.parametrize("seed", range(12))
def test_one_shopper_columns_are_the_many_request_forms_to_the_bit(seed):
    rng = np.random.default_rng(seed)
    products = np.arange(500, 560)
    leaf_of = rng.integers(-3, 12, len(products))  # -1 and other negatives: unknown leaves
    items, ignored = [(0, 0), (0, 5), (1, 0), (20, 0), (30, 12)][seed % 5]
    view = _view(rng, products, items, ignored)
    ids = rng.choice(np.r_[products, [1, 2, live_features.NO_ID]], 120)
    leaves = np.where(ids < 500, rng.integers(-2, 14, len(ids)), leaf_of[np.clip(ids - 500, 0, 59)])
    item_leaves = leaf_of[view.items - 500]
    got = live_features.live_feature_columns(view, None, ids, leaves, item_leaves, NOW, SETTINGS)
    assert live_features.one_shopper_columns(view, ids, leaves, item_leaves, NOW, SETTINGS) is not None
    _bits_equal(got, _many(view, ids, leaves, item_leaves, NOW))


def test_the_windows_edge_and_a_leaf_only_the_window_lost():
    view = ShopperView(7, None, True, NOW, items=np.array([1, 2, 3, 1], np.int64),
                       times_ms=NOW - np.array([30 * MIN, 30 * MIN + 1, -5, 90 * MIN], np.int64),
                       kinds=np.array([0, 1, 2, 0], np.int8))
    ids, leaves = np.array([1, 2, 3, 4], np.int64), np.array([10, 20, 30, -1], np.int64)
    item_leaves = np.array([10, 20, 30, 10], np.int64)
    got = live_features.live_feature_columns(view, None, ids, leaves, item_leaves, NOW, SETTINGS)
    _bits_equal(got, _many(view, ids, leaves, item_leaves, NOW))
    assert got["session_leaf_affinity"][:3].tolist() == [0.5, 0.0, 0.5]  # leaf 20's touch is a ms too old
    assert np.isnan(got["session_leaf_affinity"][3])


def test_leaf_ids_too_large_for_a_table_take_the_many_request_form():
    rng = np.random.default_rng(3)
    products = np.arange(500, 540)
    view = _view(rng, products, 15, 4)
    ids = rng.choice(products, 50)
    leaves = np.where(ids % 3 == 0, live_features.LEAF_TABLE + 7, ids % 5)
    item_leaves = np.where(view.items % 3 == 0, live_features.LEAF_TABLE + 7, view.items % 5)
    assert live_features.one_shopper_columns(view, ids, leaves, item_leaves, NOW, SETTINGS) is None
    got = live_features.live_feature_columns(view, None, ids, leaves, item_leaves, NOW, SETTINGS)
    _bits_equal(got, _many(view, ids, leaves, item_leaves, NOW))
    assert not np.isnan(got["minutes_since_leaf_touch"][leaves == live_features.LEAF_TABLE + 7]).all()


def test_the_blank_leaf_table_is_not_written_by_a_page():
    view = ShopperView(7, None, True, NOW, items=np.array([1], np.int64), times_ms=np.array([NOW], np.int64),
                       kinds=np.array([0], np.int8))
    ids, leaves = np.array([1, 2], np.int64), np.array([3, 4], np.int64)
    columns = live_features.live_feature_columns
    first = columns(view, None, ids, leaves, np.array([3], np.int64), NOW, SETTINGS)
    second = columns(ShopperView(8, None, True, NOW), None, ids, leaves, np.zeros(0, np.int64), NOW, SETTINGS)
    assert first["session_leaf_affinity"].tolist() == [1.0, 0.0]
    assert second["session_leaf_affinity"].tolist() == [0.0, 0.0]
    assert np.isnan(second["minutes_since_leaf_touch"]).all()
