"""Business rules and page placement: filters say why, diversity holds, slots are honoured."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.rules import (
    Demotion,
    Governance,
    KnownProducts,
    RequestFilters,
    ThemeBoost,
    ValueTilt,
)
from ranking.pipeline.selector import Selector
from ranking.settings import RulesSettings


def _snapshot(n: int = 30, stores: int = 3) -> FeatureSnapshot:
    ids = np.arange(100, 100 + n, dtype=np.int64)
    cols = {
        "store_id": (np.arange(n) % stores).astype(np.float32),
        "category_id": np.where(np.arange(n) < n // 2, 11, 12).astype(np.float32),
        "top_category_id": np.full(n, 1, dtype=np.float32),
        "price": np.linspace(10, 100, n).astype(np.float32),
        "stock": np.ones(n, dtype=np.float32) * 5,
        "banned": np.zeros(n, dtype=np.float32),
        "subsidy": np.zeros(n, dtype=np.float32),
        "demoted": np.zeros(n, dtype=np.float32),
    }
    store_cols = {"new_store": np.zeros(stores, np.float32), "demoted": np.zeros(stores, np.float32)}
    return FeatureSnapshot(
        as_of_ms=0,
        products=EntityTable(ids, cols),
        stores=EntityTable(np.arange(stores, dtype=np.int64), store_cols),
        users=EntityTable(np.zeros(0, np.int64), {}),
        leaf_ids=np.array([11, 12], dtype=np.int64),
        leaf_theme_slot=np.array([0, 2], dtype=np.int8),
        user_leaf_slot=None, user_leaf=None, bought=None, bought_leaf=None, store_visits=None,
        text=None,
    )


def _request(**kw) -> RankRequest:
    base = {"surface": "search", "page_size": 10, "now_ms": 0, "hour": 9}
    return RankRequest(**{**base, **kw})


def _scored(snapshot: FeatureSnapshot, ids=None) -> CandidateSet:
    ids = snapshot.products.ids if ids is None else np.asarray(ids)
    c = CandidateSet(ids)
    c.scores = -np.arange(len(ids), dtype=np.float64)  # score order = id order
    return c


def test_filters_remove_with_a_reason_and_keep_the_rest():
    snap = _snapshot()
    snap.products.columns["banned"][0] = 1
    snap.products.columns["stock"][1] = 0
    c = _scored(snap, [100, 101, 102, 999])
    keep, why = KnownProducts().apply(c, _request(), snap)
    assert list(keep) == [True, True, True, False] and why[3] == "unknown_product"
    keep, why = Governance(RulesSettings()).apply(c, _request(), snap)
    assert list(why[:3]) == ["banned", "out_of_stock", ""]
    keep, why = RequestFilters().apply(c, _request(price_max=12.0, category_id=1), snap)
    assert keep[0] and not keep[2] and why[2] == "filter:price_max"
    keep, why = RequestFilters().apply(c, _request(category_id=12), snap)
    assert not keep[:3].any() and why[0] == "filter:category"


def test_demotion_and_theme_moves_are_in_score_spread_units_and_noted():
    snap = _snapshot()
    snap.products.columns["demoted"][2] = 1
    c = _scored(snap)
    spread = float(np.std(c.scores))
    Demotion(RulesSettings(demotion_penalty=2.0)).apply(c, _request(), snap)
    assert c.adjustments[2] == pytest.approx(-2.0 * spread)
    assert c.rule_notes[2][0]["rule"] == "demotion" and c.scores[2] == -2  # model score untouched
    ThemeBoost(RulesSettings(theme_boost=0.5)).apply(c, _request(hour=9), snap)  # morning = leaf 11
    assert c.adjustments[0] == pytest.approx(0.5 * spread) and c.adjustments[29] == 0
    c2 = _scored(snap)
    ThemeBoost(RulesSettings(theme_boost=0.5)).apply(c2, _request(hour=20), snap)  # evening = leaf 12
    assert c2.adjustments[0] == 0 and c2.adjustments[29] > 0


def test_value_tilt_adds_weight_times_log_price_over_the_median_on_log_odds_scores_only():
    snap = _snapshot(n=5)  # prices 10, 32.5, 55, 77.5, 100
    c = _scored(snap)
    ValueTilt(RulesSettings(value_weight=0.0)).apply(c, _request(), snap)
    ValueTilt(RulesSettings(value_weight=0.5), score_is_log_odds=False).apply(c, _request(), snap)
    assert (c.adjustments == 0).all() and all(not c.notes(i) for i in range(len(c)))
    ValueTilt(RulesSettings(value_weight=0.5)).apply(c, _request(), snap)
    price = snap.products.columns["price"].astype(np.float64)
    np.testing.assert_allclose(c.adjustments, 0.5 * (np.log(price) - np.log(55.0)), rtol=1e-6)
    assert c.notes(0)[0]["why"].startswith("cheaper") and c.notes(4)[0]["why"].startswith("dearer")
    assert c.notes(2) == []  # the median candidate does not move
    assert c.rule_notes[0] == []  # a vector, not 5 per-candidate notes
    page = c.take(np.array([4, 0]))  # the notes follow the candidates through take
    assert page.notes(0)[0]["delta"] == pytest.approx(c.adjustments[4]) and page.notes(1)[0]["delta"] < 0
    # a unit of weight turns a log-odds score into log expected order value: the ordering
    # becomes purchase probability x price (same probability -> dearer first)
    c3 = _scored(snap)
    c3.scores = np.zeros(5)
    ValueTilt(RulesSettings(value_weight=1.0)).apply(c3, _request(), snap)
    assert list(np.argsort(-(c3.scores + c3.adjustments))) == [4, 3, 2, 1, 0]
    with pytest.raises(ValueError):
        RulesSettings(value_weight=-1)


def _stores_on_page(snap, c, rows):
    return snap.products.take("store_id", snap.products.rows(c.product_ids[rows])).astype(int)


@pytest.mark.parametrize("cap,window", [(1, 2), (2, 6), (1, 3)])
def test_store_diversity_holds_in_every_window(cap, window):
    snap = _snapshot(n=40, stores=4)
    # scores favour store 0 heavily so diversity has work to do
    c = CandidateSet(snap.products.ids)
    store = snap.products.columns["store_id"]
    c.scores = np.where(store == 0, 10.0, 0.0) - np.arange(40) * 0.01
    placement = Selector(RulesSettings(store_diversity_max=cap, store_diversity_window=window,
                                       exploration_slots=[])).place(
        c, _request(page_size=12), snap, np.random.default_rng(0))
    stores = _stores_on_page(snap, c, placement.rows)
    assert len(stores) == 12 and len(set(placement.rows)) == 12
    for start in range(len(stores)):
        assert np.bincount(stores[start:start + window]).max() <= cap
    moved = [n for r in placement.rows for n in c.rule_notes[r] if n["rule"] == "store_diversity"]
    assert moved, "a deferred card says diversity moved it"


def test_diversity_is_relaxed_only_when_nothing_else_is_left():
    snap = _snapshot(n=6, stores=1)
    c = _scored(snap)
    placement = Selector(RulesSettings(store_diversity_max=1, store_diversity_window=3,
                                       exploration_slots=[])).place(
        c, _request(page_size=6), snap, np.random.default_rng(0))
    assert list(placement.rows) == [0, 1, 2, 3, 4, 5]
    assert any(n["why"].startswith("diversity relaxed") for n in c.rule_notes[1])


def test_subsidy_slots_get_the_best_subsidy_products():
    snap = _snapshot()
    snap.products.columns["subsidy"][[20, 25]] = 1
    c = _scored(snap)
    placement = Selector(RulesSettings(store_diversity_max=10, exploration_slots=[])).place(
        c, _request(page_size=10, subsidy_slots=(2, 5)), snap, np.random.default_rng(0))
    assert placement.rows[1] == 20 and placement.rows[4] == 25
    assert c.rule_notes[20][0]["rule"] == "subsidy_slot"
    assert list(np.delete(placement.rows, [1, 4])) == [0, 1, 2, 3, 4, 5, 6, 7]


def test_exploration_slot_draws_a_new_store_product_and_logs_its_propensity():
    snap = _snapshot(n=30, stores=3)
    snap.stores.columns["new_store"][2] = 1  # products 2, 5, 8, ... belong to store 2
    settings = RulesSettings(store_diversity_max=10, exploration_slots=[3], exploration_pool=4)
    seen = set()
    for seed in range(40):
        c = _scored(snap)
        placement = Selector(settings).place(c, _request(surface="homepage", page_size=10), snap,
                                             np.random.default_rng(seed))
        r = placement.rows[2]
        assert r % 3 == 2 and placement.propensity[2] == pytest.approx(0.25)
        assert (placement.propensity[np.arange(10) != 2] == 1).all()
        seen.add(int(r))
    assert len(seen) == 4  # uniform over the pool of the 4 best new-store candidates
    c = _scored(snap)
    placement = Selector(settings).place(c, _request(page_size=10), snap, np.random.default_rng(0))
    assert (placement.propensity == 1).all()  # search pages do not explore


def test_union_deduplicates_and_keeps_provenance():
    c = CandidateSet.union({"lexical": (np.array([5, 7, 9]), np.array([3.0, 2.0, 1.0])),
                            "dense": (np.array([9, 11]), np.array([0.9, 0.8]))})
    assert list(c.product_ids) == [5, 7, 9, 11]
    assert list(c.source_ranks["lexical"]) == [1, 2, 3, 0]
    assert list(c.source_ranks["dense"]) == [0, 0, 1, 2]
    assert np.isnan(c.source_scores["dense"][0]) and c.source_scores["dense"][2] == 0.9
    assert c.sources[2] == ["lexical", "dense"]
