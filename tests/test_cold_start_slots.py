"""The cold-start selector: budgeted slots on the homepage, channel pages and search, filled by
the bandit with the propensity logged and a ``cold_start`` note (stage, posterior) in explain."""

from __future__ import annotations

import numpy as np
import pytest
from rules_mall import rules_request, scored
from test_cold_start import NOW, counted_snapshot

from ranking.explanation import RULES
from ranking.pipeline.selector import Selector
from ranking.pipeline.selectors import ColdStartSlots, default_selectors
from ranking.settings import ColdStartSettings, RulesSettings

RULES_OFF = RulesSettings(store_diversity_max=10, exploration_slots=[], traffic_policy=False)
NEW = [17, 21, 25, 28]  # ranked low (score order = id order)


def _page(surface, settings=None, seed=0, snap=None, channel=None, page_size=10, explain=True):
    snap = snap or _new_snapshot()
    c = scored(snap)
    cold = ColdStartSlots(settings or ColdStartSettings())
    request = rules_request(surface=surface, page_size=page_size, now_ms=NOW, seed=seed, channel=channel,
                            explain=explain)  # explained: every new candidate's note
    placement = Selector(RULES_OFF, [cold, *default_selectors(RULES_OFF)[3:]]).place(
        c, request, snap, np.random.default_rng(seed))
    return c, placement


def _new_snapshot():
    snap = counted_snapshot()
    snap.products.columns["listed_at"][NEW] = NOW - 3 * 86_400_000
    snap.products.columns["impressions_n"][NEW] = [10, 50, 0, 2000]  # the last one has graduated
    snap.products.columns["orders_n"][NEW] = 0
    return snap


@pytest.mark.parametrize("surface,positions,channel", [("homepage", [5], None), ("channel", [4], "subsidy"),
                                                        ("search", [6], None)])
def test_each_surface_gets_its_budget_of_new_products(surface, positions, channel):
    settings = ColdStartSettings(slots={"homepage": [5], "channel": [4], "search": [6]})
    c, placement = _page(surface, settings, channel=channel)
    rows = placement.rows.tolist()
    placed = [i for i, r in enumerate(rows) if r in NEW]
    assert [i + 1 for i in placed] == positions
    r = rows[placed[0]]
    assert r in NEW[:3], "a graduated product takes no slot"
    note = next(n for n in c.rule_notes[r] if "position" in n)
    assert note["rule"] == "cold_start" and note["stage"] == "exploring" and note["position"] == positions[0]
    assert 0 < note["propensity"] <= 1 and placement.propensity[placed[0]] == note["propensity"]
    assert [p for i, p in enumerate(placement.propensity) if i not in placed] == [1.0] * 9


def test_the_budget_is_respected_and_a_surface_without_one_gets_none():
    settings = ColdStartSettings(slots={"homepage": [2, 4, 6, 30]})
    _, placement = _page("homepage", settings)
    on_page = [i + 1 for i, r in enumerate(placement.rows.tolist()) if r in NEW]
    assert on_page == [2, 4, 6], "three exploring products for three positions on the page, none past it"
    _, search = _page("search", settings)
    assert not set(search.rows.tolist()) & set(NEW)
    _, off = _page("homepage", ColdStartSettings(enabled=False, slots={"homepage": [2, 4]}))
    assert not set(off.rows.tolist()) & set(NEW)


def test_the_page_is_the_same_for_the_same_seed_and_explores_across_seeds():
    settings = ColdStartSettings(slots={"homepage": [3]})
    pages = [_page("homepage", settings, seed=s)[1] for s in (5, 5)]
    assert np.array_equal(pages[0].rows, pages[1].rows) and np.array_equal(pages[0].propensity,
                                                                           pages[1].propensity)
    picked = {int(_page("homepage", settings, seed=s)[1].rows[2]) for s in range(30)}
    assert picked == set(NEW[:3]), "every exploring product gets its turn"


def test_every_new_candidate_shows_its_stage_and_a_retired_one_takes_no_slot():
    snap = _new_snapshot()
    snap.products.columns["impressions_n"][NEW[:3]] = 900  # 900 impressions, no order: below its leaf
    c, placement = _page("homepage", ColdStartSettings(slots={"homepage": [2]}), snap=snap)
    assert not set(placement.rows.tolist()) & set(NEW)
    stages = {r: next(n["stage"] for n in c.rule_notes[r] if n["rule"] == "cold_start") for r in NEW}
    assert stages == {17: "retired", 21: "retired", 25: "retired", 28: "graduated"}
    note = next(n for n in c.rule_notes[17] if n["rule"] == "cold_start")
    assert note["posterior_mean"] < note["leaf_rate"] and "ranked by the model" in note["why"]


def test_a_page_not_explained_notes_only_the_card_the_bandit_placed():
    """Min categories reads a placed card's note; the other new candidates' notes are for
    ``explain`` alone, so a page not explained makes none (the same page, the same placed note)."""
    settings = ColdStartSettings(slots={"homepage": [2]})
    c, placement = _page("homepage", settings)
    quiet, same = _page("homepage", settings, explain=False)
    np.testing.assert_array_equal(same.rows, placement.rows)
    placed = int(placement.rows[1])
    assert placed in NEW and sum(bool(c.rule_notes[r]) for r in NEW) > 1
    assert [r for r in range(len(quiet)) if quiet.rule_notes[r]] == [placed]
    assert quiet.rule_notes[placed] == c.rule_notes[placed]


def test_the_bandit_prefers_the_product_whose_orders_beat_its_leaf():
    snap = _new_snapshot()
    snap.products.columns["impressions_n"][NEW[:3]] = 400
    snap.products.columns["orders_n"][NEW[:3]] = [0, 12, 0]  # product 21 converts 3%, its leaf 0.1%
    picks = [int(_page("homepage", ColdStartSettings(slots={"homepage": [1]}), seed=s, snap=snap)[1].rows[0])
             for s in range(20)]
    assert picks.count(21) >= 18


def test_the_rule_is_explained():
    assert "cold_start" in RULES and RULES["cold_start"][1]


def test_every_pipeline_of_a_snapshot_shares_one_facts_table(monkeypatch):
    """The facts are built once per snapshot, whichever pipeline's slots ask first (the warm-up
    built one copy per pipeline: five at 1M products, 0.3-0.45 s of CPU each)."""
    import time

    from ranking.cold_start.product_facts import snapshot_facts
    from ranking.pipeline.selectors import cold_start as selector

    settings = ColdStartSettings(slots={"homepage": [5]})
    snap = _new_snapshot()
    assert snapshot_facts(snap) is snapshot_facts(snap)
    assert snapshot_facts(_new_snapshot()) is not snapshot_facts(snap)  # another snapshot, its own
    _, first = _page("homepage", settings, snap=snap)  # one pipeline's slots start the build aside
    deadline = time.time() + 10
    while snapshot_facts(snap).ready(snap.products, snap.stores, settings.prior_strength) is None:
        assert time.time() < deadline, "the facts were not built aside"
        time.sleep(0.005)

    def computed_anew(*args, **kwargs):
        raise AssertionError("another pipeline's slots computed the facts the snapshot holds")

    monkeypatch.setattr(selector, "cold_start_view", computed_anew)
    _, other = _page("homepage", settings, snap=snap)  # another pipeline's slots: the same table
    assert other.rows.tolist() == first.rows.tolist()
