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
        c, rules_request(page_size=12), snap, np.random.default_rng(0))
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
        c, rules_request(page_size=6), snap, np.random.default_rng(0))
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
