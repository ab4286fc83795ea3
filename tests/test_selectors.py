"""The placement policies: subsidy slots, exploration slots and store diversity."""

from __future__ import annotations

import numpy as np
import pytest
from rules_mall import rules_request, rules_snapshot, scored

from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.selector import Selector
from ranking.settings import RulesSettings


def _stores_on_page(snap, c, rows):
    return snap.products.take("store_id", snap.products.rows(c.product_ids[rows])).astype(int)


@pytest.mark.parametrize("cap,window", [(1, 2), (2, 6), (1, 3)])
def test_store_diversity_holds_in_every_window(cap, window):
    snap = rules_snapshot(n=40, stores=4)
    # scores favour store 0 heavily so diversity has work to do
    c = CandidateSet(snap.products.ids)
    store = snap.products.columns["store_id"]
    c.scores = np.where(store == 0, 10.0, 0.0) - np.arange(40) * 0.01
    placement = Selector(RulesSettings(store_diversity_max=cap, store_diversity_window=window,
                                       exploration_slots=[])).place(
        c, rules_request(page_size=12, explain=True), snap, np.random.default_rng(0))
    stores = _stores_on_page(snap, c, placement.rows)
    assert len(stores) == 12 and len(set(placement.rows)) == 12
    for start in range(len(stores)):
        assert np.bincount(stores[start:start + window]).max() <= cap
    moved = [n for r in placement.rows for n in c.rule_notes[r] if n["rule"] == "store_diversity"]
    assert moved, "a deferred card says diversity moved it"


def test_diversity_is_relaxed_only_when_nothing_else_is_left():
    snap = rules_snapshot(n=6, stores=1)
    c = scored(snap)
    placement = Selector(RulesSettings(store_diversity_max=1, store_diversity_window=3,
                                       exploration_slots=[])).place(
        c, rules_request(page_size=6, explain=True), snap, np.random.default_rng(0))
    assert list(placement.rows) == [0, 1, 2, 3, 4, 5]
    assert any(n["why"].startswith("diversity relaxed") for n in c.rule_notes[1])


def test_subsidy_slots_get_the_best_subsidy_products():
    snap = rules_snapshot()
    snap.products.columns["subsidy"][[20, 25]] = 1
    c = scored(snap)
    placement = Selector(RulesSettings(store_diversity_max=10, exploration_slots=[])).place(
        c, rules_request(page_size=10, subsidy_slots=(2, 5)), snap, np.random.default_rng(0))
    assert placement.rows[1] == 20 and placement.rows[4] == 25
    assert c.rule_notes[20][0]["rule"] == "subsidy_slot"
    assert list(np.delete(placement.rows, [1, 4])) == [0, 1, 2, 3, 4, 5, 6, 7]


def test_exploration_slot_draws_a_new_store_product_and_logs_its_propensity():
    snap = rules_snapshot(n=30, stores=3)
    snap.stores.columns["new_store"][2] = 1  # products 2, 5, 8, ... belong to store 2
    settings = RulesSettings(store_diversity_max=10, exploration_slots=[3], exploration_pool=4)
    seen = set()
    for seed in range(40):
        c = scored(snap)
        placement = Selector(settings).place(c, rules_request(surface="homepage", page_size=10), snap,
                                             np.random.default_rng(seed))
        r = placement.rows[2]
        assert r % 3 == 2 and placement.propensity[2] == pytest.approx(0.25)
        assert (placement.propensity[np.arange(10) != 2] == 1).all()
        seen.add(int(r))
    assert len(seen) == 4  # uniform over the pool of the 4 best new-store candidates
    c = scored(snap)
    placement = Selector(settings).place(c, rules_request(page_size=10), snap, np.random.default_rng(0))
    assert (placement.propensity == 1).all()  # search pages do not explore


def test_the_selector_runs_its_policies_in_sequence_and_only_those():
    from ranking.pipeline.selectors import StoreDiversity, SubsidySlots, default_selectors

    settings = RulesSettings(store_diversity_max=10, exploration_slots=[])
    assert [p.name for p in default_selectors(settings)] == ["merch_pin", "subsidy_slot", "exploration",
                                                             "traffic_policy", "shelf_spread",
                                                             "min_categories"]
    snap = rules_snapshot()
    snap.products.columns["subsidy"][[20]] = 1
    request = rules_request(page_size=5, subsidy_slots=(2,))
    plain = Selector(settings, [StoreDiversity(settings)]).place(scored(snap), request, snap,
                                                                 np.random.default_rng(0))
    assert list(plain.rows) == [0, 1, 2, 3, 4]  # no subsidy policy: the slot is not kept
    only = Selector(settings, [SubsidySlots()]).place(scored(snap), request, snap, np.random.default_rng(0))
    assert list(only.rows) == [20]  # the other slots stay empty without a policy to fill them


@pytest.mark.parametrize("seed", range(6))
def test_the_rank_order_is_lexsorts_by_score_then_id_with_ties_nans_and_signed_zeros(seed):
    from ranking.pipeline.selector import rank_order

    rng = np.random.default_rng(seed)
    n = 300
    ids = rng.permutation(np.arange(1000, 1000 + 3 * n, 3)).astype(np.int64)
    cases = [rng.random(n),  # distinct: the argsort's order
             np.round(rng.random(n), 2),  # many ties: broken by product id
             np.where(rng.random(n) < 0.05, np.nan, rng.random(n)),
             np.where(rng.random(n) < 0.5, 0.0, -0.0) + np.where(rng.random(n) < 0.5, 0.0, 1.0),
             rng.random(n)[:1], rng.random(n)[:0]]
    cases[0][7] = cases[0][9]  # one tie among distinct scores
    for score in cases:
        got = rank_order(score, ids[:len(score)])
        assert got.dtype == np.intp
        assert got.tolist() == np.lexsort((ids[:len(score)], -score)).tolist()
    distinct = rng.random(n)
    assert rank_order(distinct, ids).tolist() == np.argsort(-distinct).tolist()


def test_the_candidates_new_stores_are_kept_per_product_and_read_anew_when_the_stores_change():
    import dataclasses

    from ranking.pipeline.columns import product_column, store_flag
    from ranking.pipeline.selectors import PageDraft
    from ranking.pipeline.selectors.exploration_slots import NEW_STORE_OF_PRODUCTS, _new_store_candidates

    snap = rules_snapshot(n=30, stores=4)
    snap.stores.columns["new_store"][1] = 1
    c = CandidateSet(np.array([129, 101, 999, 105, 100, 102], dtype=np.int64))  # 999: unknown

    def expected(s):
        stores = product_column(s, c, "store_id", missing=-1).astype(np.int64)
        return store_flag(s, stores, "new_store"), PageDraft(np.arange(len(c)), stores, 3)

    want, page = expected(snap)
    assert want.tolist() == [True, True, False, True, False, False]
    assert _new_store_candidates(snap, c, page).tolist() == want.tolist()
    kept = NEW_STORE_OF_PRODUCTS.of(snap.products.columns["store_id"], snap.stores,
                                    snap.stores.columns["new_store"])
    assert _new_store_candidates(snap, c, page).tolist() == want.tolist()
    assert NEW_STORE_OF_PRODUCTS.of(snap.products.columns["store_id"], snap.stores,
                                    snap.stores.columns["new_store"]) is kept  # the same arrays: kept
    # the live catalog swaps a changed column (a store turning new, a product moving store)
    flags = snap.stores.columns["new_store"].copy()
    flags[[1, 2]] = [0, 1]
    snap.stores.columns["new_store"] = flags
    store_ids = snap.products.columns["store_id"].copy()
    store_ids[0] = 2  # product 100 moves to store 2
    snap.products.columns["store_id"] = store_ids
    want, page = expected(snap)
    assert want.tolist() == [False, False, False, False, True, True]
    assert _new_store_candidates(snap, c, page).tolist() == want.tolist()
    no_flags = dataclasses.replace(snap, stores=type(snap.stores)(snap.stores.ids, {}))
    assert not _new_store_candidates(no_flags, c, page).any()
