"""The per-product feature table (ranking/features/per_product.py): the features it holds read only
the product and its store, a request's gather equals computing them, and the table is rebuilt
when the live catalog or a score refresh swaps the product or store table."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from ranking.catalog_changes import BANS, PRODUCT_CHANGES
from ranking.features import Requests, build_inputs, compute_features, feature_names
from ranking.features.inputs import analyse_queries, no_queries
from ranking.features.per_product import (
    CACHE_KEY,
    per_product_names,
    product_feature_table,
    ready_product_feature_table,
)
from ranking.features.snapshot import CatalogText, EntityTable, FeatureSnapshot
from ranking.live.catalog_overlay import overlay_products
from ranking.live.catalog_state import CatalogState
from ranking.settings import Settings
from training.data.mall_data import load_mall
from training.learning.dataset import DAY_MS, mall_day_zero_ms
from training.learning.snapshot_builder import build_snapshot


@pytest.fixture(scope="module")
def snapshot(small_mall: Path) -> FeatureSnapshot:
    mall = load_mall(small_mall)
    return build_snapshot(mall, mall_day_zero_ms(mall, "Asia/Shanghai") + 20 * DAY_MS, Settings())


def _ids(snapshot: FeatureSnapshot) -> np.ndarray:
    """Some products of the table, in no order, and one it does not hold."""
    ids = snapshot.products.ids
    picked = np.random.default_rng(5).choice(ids, size=min(300, len(ids)), replace=False)
    return np.r_[picked, int(ids.max()) + 1_000].astype(np.int64)


def _requests(snapshot: FeatureSnapshot, query: str | None, surface: int, hour: int, user: int) -> Requests:
    return Requests(np.array([user]), [query], np.array([hour]), np.array([surface]))


def _features(snapshot: FeatureSnapshot, ids: np.ndarray, requests: Requests, cached: bool) -> np.ndarray:
    table = product_feature_table(snapshot, feature_names()) if cached else None
    inputs = build_inputs(snapshot, ids, np.zeros(len(ids), np.int64), requests, per_product=table)
    return compute_features(inputs, feature_names())


def test_the_per_product_features_read_nothing_of_the_request(snapshot: FeatureSnapshot) -> None:
    names = per_product_names()
    assert len(names) >= 30 and "product_score" in names and "store_experience_score" in names
    assert "price_band_fit" not in names and "lexical_score" not in names
    ids = _ids(snapshot)
    at = [feature_names().index(n) for n in names]
    users = snapshot.users.ids
    contexts = [("phone", 0, 9, int(users[0])), (None, 1, 20, int(users[-1])), ("red dress", 2, 3, -1)]
    first, *others = [_features(snapshot, ids, _requests(snapshot, *c), cached=False)[:, at]
                      for c in contexts]
    for other in others:
        np.testing.assert_array_equal(first, other)


def test_a_gathered_page_equals_computing_every_feature(snapshot: FeatureSnapshot) -> None:
    ids = _ids(snapshot)
    for context in [("phone", 0, 9, int(snapshot.users.ids[0])), (None, 1, 20, -1)]:
        requests = _requests(snapshot, *context)
        cached = _features(snapshot, ids, requests, cached=True)
        plain = _features(snapshot, ids, requests, cached=False)
        assert cached.dtype == plain.dtype == np.float32
        np.testing.assert_array_equal(cached, plain)  # NaN where NaN, every bit alike otherwise
    assert np.isnan(cached[-1, feature_names().index("product_score")])  # the unknown product


def test_the_table_is_built_once_per_product_and_store_table(snapshot: FeatureSnapshot) -> None:
    first = product_feature_table(snapshot, feature_names())
    assert product_feature_table(snapshot, feature_names()) is first
    assert first.matrix.shape == (len(snapshot.products.ids) + 1, len(per_product_names()))


def _swapped(snapshot: FeatureSnapshot) -> FeatureSnapshot:
    """A snapshot sharing the fixture's tables, so a test may swap them without touching it."""
    return FeatureSnapshot(snapshot.as_of_ms, snapshot.products, snapshot.stores, snapshot.users,
                           snapshot.leaf_ids, snapshot.leaf_theme_slot, snapshot.user_leaf_slot,
                           snapshot.user_leaf, snapshot.bought, snapshot.bought_leaf,
                           snapshot.store_visits, snapshot.text, snapshot.meta)


def test_a_live_catalog_change_rebuilds_the_table(snapshot: FeatureSnapshot) -> None:
    snap = _swapped(snapshot)
    ids = _ids(snap)
    before = _features(snap, ids, _requests(snap, None, 1, 9, -1), cached=True)
    state = CatalogState()
    target = int(ids[0])
    folded = state.fold([(PRODUCT_CHANGES, {"product_id": target, "price": 1.5, "stock": 0}),
                         (BANS, {"product_ids": [int(ids[1])], "store_ids": [], "reason": "fake",
                                 "unban": False})])
    old = product_feature_table(snap, feature_names())
    snap.products = overlay_products(snap.products, state, folded, 0.5)  # as the catalog follower swaps

    after = _features(snap, ids, _requests(snap, None, 1, 9, -1), cached=True)
    assert product_feature_table(snap, feature_names()) is not old
    requests = _requests(snap, None, 1, 9, -1)
    np.testing.assert_array_equal(after, _features(snap, ids, requests, cached=False))
    log_price = feature_names().index("log_price")
    assert after[0, log_price] == np.float32(np.log(1.5)) != before[0, log_price]


def test_a_score_refresh_or_a_new_store_table_rebuilds_the_table(snapshot: FeatureSnapshot) -> None:
    snap = _swapped(snapshot)
    ids = _ids(snap)
    old = product_feature_table(snap, feature_names())
    # a refresh's new scores: every product's score and every store's experience score moved
    products = snap.products
    snap.products = EntityTable(products.ids, {**products.columns,
                                               "product_score": products.columns["product_score"] + 7})
    stores = snap.stores
    snap.stores = EntityTable(stores.ids, {**stores.columns, "store_experience_score":
                                           stores.columns["store_experience_score"] / 2})
    requests = _requests(snap, "phone", 0, 9, int(snap.users.ids[0]))
    after = _features(snap, ids, requests, cached=True)
    assert snap.derived[CACHE_KEY] is not old
    np.testing.assert_array_equal(after, _features(snap, ids, requests, cached=False))
    score = feature_names().index("product_score")
    np.testing.assert_array_equal(after[:-1, score],
                                  _features(snapshot, ids, requests, cached=False)[:-1, score] + 7)


def test_training_with_columns_as_of_the_request_computes_them(snapshot: FeatureSnapshot) -> None:
    ids = _ids(snapshot)
    requests = _requests(snapshot, None, 1, 9, -1)
    as_of = {"price": np.full(len(ids), 3.0)}
    table = product_feature_table(snapshot, feature_names())
    inputs = build_inputs(snapshot, ids, np.zeros(len(ids), np.int64), requests, as_of=as_of,
                          per_product=table)
    assert inputs.per_product is None
    log_price = compute_features(inputs, feature_names())[:, feature_names().index("log_price")]
    np.testing.assert_array_equal(log_price[:-1], np.float32(np.log(3.0)))


def test_the_empty_query_batch_is_made_once_per_catalog_text(snapshot: FeatureSnapshot) -> None:
    snap = _swapped(snapshot)
    first = no_queries(snap)
    assert no_queries(snap) is first
    fresh = analyse_queries(snap, [])
    assert first.texts == [] and first.tokens.shape == fresh.tokens.shape
    assert first.bigrams.shape == fresh.bigrams.shape and first.intent.shape == fresh.intent.shape
    text = snap.text
    snap.text = CatalogText([*text.vocabulary, "brandnewword"], text.product_tokens,
                            text.bigram_vocabulary, text.product_bigrams, text.token_leaf, text.brand_names)
    wider = no_queries(snap)
    assert wider is not first and wider.tokens.shape == (0, len(text.vocabulary) + 1)


def test_the_request_path_never_waits_for_a_build(snapshot: FeatureSnapshot) -> None:
    snap = _swapped(snapshot)
    assert ready_product_feature_table(snap, feature_names()) is None  # built aside, meanwhile none
    deadline = time.monotonic() + 30
    while (ready := ready_product_feature_table(snap, feature_names())) is None:
        assert time.monotonic() < deadline, "the background build did not finish"
        time.sleep(0.01)
    np.testing.assert_array_equal(ready.matrix, product_feature_table(snap, feature_names()).matrix)
    products = snap.products
    snap.products = EntityTable(products.ids, {**products.columns, "rating": products.columns["rating"] * 0})
    assert ready_product_feature_table(snap, feature_names()) is None  # a swap: stale until rebuilt
    while (again := ready_product_feature_table(snap, feature_names())) is None:
        assert time.monotonic() < deadline, "the background rebuild did not finish"
        time.sleep(0.01)
    assert again is not ready and again.products is snap.products
    ids = _ids(snap)
    requests = _requests(snap, None, 1, 9, -1)
    np.testing.assert_array_equal(_features(snap, ids, requests, cached=True),
                                  _features(snap, ids, requests, cached=False))
