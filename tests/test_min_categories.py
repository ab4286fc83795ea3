"""Fewest categories (min-groups): a page shows at least so many leaf categories, by swapping the
bottom cards of repeated leaves for the best of missing ones, and says so."""

from __future__ import annotations

import numpy as np
from test_shelf_spread import _column, _mall, _place, _rules

from ranking.settings import RulesSettings


def test_a_page_of_one_leaf_gets_the_best_card_of_each_missing_leaf_at_the_bottom():
    snap = _mall(n=80, leaves=4)  # ids 0-19 leaf 10, 20-39 leaf 11, ...; score order = id order
    c, rows = _place(snap, _rules(spread_min_categories={"homepage": 4}), surface="homepage", page_size=20)
    leaves = _column(snap, c, rows, "category_id")
    assert len(set(leaves.tolist())) == 4
    # the first 17 slots keep the model's order; the last three hold the best of leaves 11, 12, 13
    assert list(rows[:17]) == list(range(17))
    assert sorted(rows[17:].tolist()) == [20, 40, 60]
    for r in rows[17:]:
        (note,) = [n for n in c.rule_notes[r] if n["rule"] == "min_categories"]
        assert "at least 4 categories" in note["why"]
    assert not any(n["rule"] == "min_categories" for r in rows[:17] for n in c.rule_notes[r])


def test_nothing_moves_when_the_page_already_shows_enough_or_the_rule_is_off():
    snap = _mall(n=80, leaves=4)
    _, plain = _place(snap, _rules(), surface="homepage", page_size=20)
    assert list(plain) == list(range(20))
    _, one = _place(snap, _rules(spread_min_categories={"homepage": 1}), surface="homepage", page_size=20)
    assert list(one) == list(range(20))
    _, two = _place(snap, _rules(spread_min_categories={"homepage": 2}), surface="homepage", page_size=20)
    assert list(two) == [*range(19), 20]  # one swap, at the bottom
    _, enough = _place(snap, _rules(spread_min_categories={"homepage": 2}), surface="homepage", page_size=30)
    assert list(enough) == list(range(30))  # leaves 10 and 11 are already on a 30-card page
    _, search = _place(snap, _rules(spread_min_categories={"homepage": 4}), surface="search", page_size=20)
    assert list(search) == list(range(20))  # the rule is per surface


def test_a_pool_with_fewer_leaves_gives_what_it_has():
    snap = _mall(n=40, leaves=2)
    c, rows = _place(snap, _rules(spread_min_categories={"homepage": 4}), surface="homepage", page_size=20)
    assert len(rows) == 20 and len(set(_column(snap, c, rows, "category_id").tolist())) == 2


def test_the_incoming_card_keeps_the_subsidy_share():
    snap = _mall(n=80, leaves=4)
    subsidy = np.zeros(80, dtype=np.float32)
    subsidy[[20, 21, 40]] = 1  # the best cards of leaves 11 and 12 are subsidised
    snap.products.columns["subsidy"] = subsidy
    rules = _rules(spread_min_categories={"homepage": 4}, subsidy_share_max={"homepage": 0.05})  # 1 card
    c, rows = _place(snap, rules, surface="homepage", page_size=20)
    on_page = _column(snap, c, rows, "subsidy")
    assert on_page.sum() <= 1
    assert 20 in rows.tolist() and 40 not in rows.tolist() and 41 in rows.tolist()


def test_a_card_another_selector_placed_is_not_swapped_out():
    snap = _mall(n=80, leaves=4, stores=12)
    snap.stores.columns["new_store"][:] = 0
    snap.stores.columns["new_store"][5] = 1  # store 5's products: ids 5, 17, 29, ... (leaf 10 first)
    rules = _rules(spread_min_categories={"homepage": 4}, exploration_slots=[20], exploration_pool=1)
    c, rows = _place(snap, rules, surface="homepage", page_size=20)
    assert rows[19] == 5  # the exploration slot, the best new-store card: leaf 10, repeated on the page
    assert any(n["rule"] == "exploration" for n in c.rule_notes[5])
    assert not any(n["rule"] == "min_categories" for n in c.rule_notes[5])
    assert len(set(_column(snap, c, rows, "category_id").tolist())) == 4
    assert sorted(rows[16:19].tolist()) == [20, 40, 60]  # the swaps took the slots above it


def test_the_default_shows_four_categories_on_homepage_and_channel_and_none_is_forced_on_search():
    defaults = RulesSettings()
    assert defaults.spread_min_categories["homepage"] >= 4 and defaults.spread_min_categories["channel"] >= 4
    assert defaults.spread_min_categories["search"] == 0


def test_a_page_already_showing_enough_leaves_reads_nothing_more():
    from rules_mall import rules_request
    from test_shelf_spread import _scored

    from ranking.pipeline.selectors import MinCategories, PageDraft
    from ranking.pipeline.selectors.page_keys import page_keys

    snap = _mall(n=80, leaves=4)
    c = _scored(snap)
    rules = _rules(spread_min_categories={"homepage": 2}, subsidy_share_max={"homepage": 0.5})
    page = PageDraft(np.arange(80), np.zeros(80, np.int64), 30)
    page.slots[:] = np.arange(30)  # leaves 10 and 11
    page.used[:30] = True
    MinCategories(rules).fill(page, c, rules_request(surface="homepage", page_size=30), snap, None)
    assert page.slots.tolist() == list(range(30))
    assert set(page.memo) == {page_keys}  # the leaves, not the subsidy column: no swap to make
