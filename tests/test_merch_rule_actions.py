"""Each merchandising action as its pipeline component applies it, on the small hand-made catalog:
hide and filter (the merchandising filter), boost and bury (the adjuster), pins (the pinned
candidates, the pinned slots, the page's report of pins not honoured) and their conflicts."""

from __future__ import annotations

import numpy as np
from rules_mall import rules_request, rules_snapshot, scored

from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.in_force import rules_in_force
from ranking.merchandising.page_report import report_page
from ranking.merchandising.pins import PINNED, pinned_ids, pinned_list, plan_pins
from ranking.merchandising.problems import rule_problems
from ranking.merchandising.rule import Rule
from ranking.merchandising.targets import among
from ranking.pipeline.adjusters import MerchandisingMoves
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.filters import MerchandisingFilter
from ranking.pipeline.selector import Selector
from ranking.pipeline.selectors import default_selectors
from ranking.settings import MerchandisingSettings, RulesSettings

PLAIN = RulesSettings(store_diversity_max=10, exploration_slots=[], traffic_policy=False,
                      spread_category_max={}, spread_brand_max={}, spread_min_categories={})


def rule(id: str, action: dict, match: dict | None = None, **kw) -> Rule:
    return Rule.model_validate({"match": match or {"query": "rice"}, "action": action, "reason": f"why {id}",
                                "id": id, **kw})


def req(*rules: Rule, **kw):
    return rules_request(query="rice", merchandising=MerchandisingBook(tuple(rules)), **kw)


def snapshot():
    snap = rules_snapshot()
    snap.products.columns["brand_id"] = (np.arange(30) % 5).astype(np.float32)
    return snap


def test_hide_removes_its_products_naming_the_rule():
    snap, c = snapshot(), None
    c = scored(snap)
    keep, reason = MerchandisingFilter().apply(c, req(rule("h", {"hide": [103, 107, 999]})), snap)
    assert list(np.flatnonzero(~keep)) == [3, 7]
    assert set(reason[~keep]) == {"rule_hide:h"}


def test_filter_keeps_only_a_category_leaf_or_top_or_a_brand():
    snap = snapshot()
    c = scored(snap)
    keep, reason = MerchandisingFilter().apply(c, req(rule("f", {"filter": {"category_id": 12}})), snap)
    assert list(np.flatnonzero(keep)) == list(range(15, 30)) and set(reason[~keep]) == {"rule_filter:f"}
    keep, _ = MerchandisingFilter().apply(c, req(rule("top", {"filter": {"category_id": 1}})), snap)
    assert keep.all()  # every product is in top category 1
    keep, _ = MerchandisingFilter().apply(c, req(rule("b", {"filter": {"brand": "3"}})), snap)
    assert list(np.flatnonzero(keep)) == [3, 8, 13, 18, 23, 28]


def test_a_candidate_removed_by_a_hide_and_a_filter_names_the_hide():
    snap = snapshot()
    c = scored(snap)
    rules = (rule("f", {"filter": {"category_id": 12}}, priority=9), rule("h", {"hide": [101]}))
    _, reason = MerchandisingFilter().apply(c, req(*rules), snap)
    assert reason[1] == "rule_hide:h" and reason[0] == "rule_filter:f"


def test_no_book_an_empty_book_or_no_match_removes_nothing():
    snap = snapshot()
    c = scored(snap)
    for request in (rules_request(query="rice"), req(), req(rule("h", {"hide": [100]}, {"query": "oil"}))):
        keep, _ = MerchandisingFilter().apply(c, request, snap)
        assert keep.all()
        MerchandisingMoves().apply(c, request, snap)
        assert not c.adjustments.any() and not any(c.rule_notes) and not c.noted_moves


def test_boost_and_bury_add_up_with_a_note_each():
    snap = snapshot()
    c = scored(snap)
    rules = (rule("up", {"boost": {"target": {"product_ids": [110, 111]}, "by": 2}}),
             rule("down", {"bury": {"target": {"brand": "0"}, "by": 0.5}}),
             rule("store", {"bury": {"target": {"store_id": 2}, "by": 1}}))
    MerchandisingMoves().apply(c, req(*rules), snap)
    # product 110: brand 0 (row 10), store 1; product 111: brand 1, store 2
    assert c.adjustments[10] == 2 - 0.5 and c.adjustments[11] == 2 - 1
    assert [n["rule_id"] for n in c.notes(10)] == ["down", "up"]  # same rank, same priority: by id
    assert c.notes(10)[0] == {"rule": "merch_bury", "rule_id": "down", "delta": -0.5,
                              "why": "why down (bury brand 0 by 0.5)"}
    assert c.adjustments[1] == 0 and not c.notes(1)  # brand 1, store 1: untouched
    page = c.take(np.array([11, 10]))  # the notes follow the cards placed
    assert [n["delta"] for n in page.notes(0)] == [-1, 2] and [n["delta"] for n in page.notes(1)] == [-0.5, 2]
    assert c.scores[10] == -10  # the model score is never changed


def test_pinned_products_join_the_candidates_as_the_pinned_source():
    lists = {"lexical": (np.array([105, 106]), np.array([2.0, 1.0]))}
    found = rules_in_force(req(rule("p", {"pin": [120, 106]})))
    out, recalled = CandidateSet.union_counted(lists, pinned_list(found))
    assert list(out.product_ids) == [105, 106, 120] and recalled == 2
    assert out.sources == [["lexical"], ["lexical", PINNED], [PINNED]]
    assert out.source_ranks[PINNED].tolist() == [0, 2, 1]  # each pinned product's place in the pins


def _padded_with_pins(cands: CandidateSet, found) -> CandidateSet:
    """The reference: ``cands`` padded with the pinned products it lacks, every pinned one marked
    by the ``pinned`` source (how the pins joined the candidates before they joined the union)."""
    pinned = pinned_ids(found)[1]
    first = {p: i + 1 for i, p in enumerate(pinned.tolist())}
    held = np.flatnonzero(among(cands.product_ids, pinned))
    new = pinned[~among(pinned, cands.product_ids[held])]
    n = len(cands) + len(new)
    ids = np.concatenate([cands.product_ids, new])
    scores = {k: np.concatenate([v, np.full(len(new), np.nan)]) for k, v in cands.source_scores.items()}
    ranks = {k: np.concatenate([v, np.zeros(len(new), dtype=v.dtype)]) for k, v in cands.source_ranks.items()}
    rank = np.zeros(n, dtype=np.int32)
    rows = np.concatenate([held, np.arange(len(cands), n)])
    rank[rows] = [first[p] for p in ids[rows].tolist()]
    scores[PINNED], ranks[PINNED] = np.where(rank > 0, 0.0, np.nan), rank
    return CandidateSet(ids, scores, ranks)


def _same_candidates(a: CandidateSet, b: CandidateSet) -> None:
    assert a.product_ids.tolist() == b.product_ids.tolist() and a.sources == b.sources
    assert list(a.source_scores) == list(b.source_scores) and list(a.source_ranks) == list(b.source_ranks)
    for name in a.source_scores:
        np.testing.assert_array_equal(a.source_scores[name], b.source_scores[name])
        assert a.source_scores[name].dtype == b.source_scores[name].dtype
        np.testing.assert_array_equal(a.source_ranks[name], b.source_ranks[name])
        assert a.source_ranks[name].dtype == b.source_ranks[name].dtype
    assert len(a.rule_notes) == len(b.rule_notes) == len(a)
    assert not any(a.rule_notes[i] for i in range(len(a)))


def test_the_pinned_list_in_the_union_gives_the_union_padded_with_the_pins():
    rng = np.random.default_rng(5)
    pins = rule("p", {"pin": [120, 106, 131]}), rule("q", {"pin": [106, 140], "at": [2, 4]}, priority=2)
    found = rules_in_force(req(*pins))
    assert list(pinned_list(found)) == [PINNED] and pinned_list(None) == {}
    assert pinned_list(found) is pinned_list(found.for_request())  # made once per set of rules
    for _ in range(200):
        parts = {f"s{j}": (rng.choice(np.r_[100:112, 120, 131, 140], size=rng.integers(0, 9)),
                           rng.normal(size=9)) for j in range(rng.integers(0, 4))}
        parts = {name: (ids, scores[:len(ids)]) for name, (ids, scores) in parts.items()}
        union = CandidateSet.union(parts)
        got, recalled = CandidateSet.union_counted(parts, pinned_list(found))
        _same_candidates(got, _padded_with_pins(union, found))
        assert recalled == len(union)
        plain, counted = CandidateSet.union_counted(parts)
        _same_candidates(plain, union)
        assert counted == len(union)


def place(c, request, snap, merch=None):
    selector = Selector(PLAIN, default_selectors(PLAIN, merch))
    rows = selector.place(c, request, snap, np.random.default_rng(0)).rows
    return [int(c.product_ids[r]) for r in rows]


def test_pins_take_their_positions_before_any_other_selector():
    snap = snapshot()
    c = scored(snap)
    request = req(rule("p", {"pin": [120, 125], "at": [1, 3]}), subsidy_slots=(1,))
    snap.products.columns["subsidy"][[4]] = 1
    assert place(c, request, snap) == [120, 100, 125, 101, 102, 103, 104, 105, 106, 107]
    assert c.rule_notes[20] == [{"rule": "merch_pin", "rule_id": "p", "position": 1, "why": "why p"}]
    assert not c.rule_notes[4]  # the subsidy slot asked for position 1: the pin has it


def test_two_pins_on_one_position_higher_priority_then_newer_wins():
    snap = snapshot()
    rules = (rule("low", {"pin": [121]}), rule("high", {"pin": [122]}, priority=3),
             rule("old", {"pin": [123], "at": [2]}, updated_ms=1), rule("new", {"pin": [124], "at": [2]},
                                                                        updated_ms=2))
    c = scored(snap)
    assert place(c, req(*rules), snap)[:3] == [122, 124, 100]
    plan = plan_pins(rules_in_force(req(*rules)), c.product_ids, 10, 10)
    assert [(p.rule.id, why) for p, why in plan.failed] == [("old", "position_taken"),
                                                            ("low", "position_taken")]


def test_hide_beats_a_pin_and_the_page_reports_the_pin():
    snap = snapshot()
    request = req(rule("p", {"pin": [120, 121]}), rule("h", {"hide": [120]}))
    found = rules_in_force(request)
    c = CandidateSet.union_counted({"lexical": (snap.products.ids[:5], np.zeros(5))}, pinned_list(found))[0]
    keep, reason = MerchandisingFilter().apply(c, request, snap)
    dropped = [{"product_id": int(c.product_ids[i]), "reason": reason[i], "stage": "merchandising"}
               for i in np.flatnonzero(~keep)]
    c = c.take(keep)
    c.scores = -np.arange(len(c), dtype=np.float64)
    page = c.take(Selector(PLAIN).place(c, request, snap, np.random.default_rng(0)).rows)
    assert list(page.product_ids) == [100, 121, 101, 102, 103, 104]  # 120 hidden; 121 keeps position 2
    report = report_page(rules_in_force(request), c, page, dropped, len(page), 10)
    assert report.dropped == [{"product_id": 120, "reason": "rule_pin:p:rule_hide:h",
                               "stage": "merchandising"}]
    assert report.rules_applied == ["h", "p"]


def test_pins_beyond_the_page_or_the_limit_are_reported_not_placed():
    snap = snapshot()
    request = req(rule("p", {"pin": [120, 121, 122], "at": [1, 2, 40]}))
    c = scored(snap)
    merch = MerchandisingSettings(max_pins_per_page=1)
    assert place(c, request, snap, merch)[:2] == [120, 100]
    plan = plan_pins(rules_in_force(request), c.product_ids, 10, 1)
    assert [(p.product_id, why) for p, why in plan.failed] == [(121, "over_limit"), (122, "beyond_page")]


def test_cards_below_a_pin_say_the_pins_moved_them_down():
    snap = snapshot()
    request = req(rule("p", {"pin": [120], "at": [2]}), rule("f", {"filter": {"category_id": 1}}))
    c = scored(snap)
    page = c.take(Selector(PLAIN).place(c, request, snap, np.random.default_rng(0)).rows)
    report = report_page(rules_in_force(request), c, page, [], 10, 10)
    assert [n["rule"] for n in page.rule_notes[0]] == ["merch_filter"]
    assert page.rule_notes[2][0] == {"rule": "merch_pinned_above", "rule_ids": ["p"],
                                     "why": "1 pinned card above moved it down"}
    assert report.rules_applied == ["f", "p"] and report.redirect is None


def test_redirect_is_the_highest_priority_then_newest():
    rules = (rule("a", {"redirect": {"channel": "/rice"}}, updated_ms=5),
             rule("b", {"redirect": {"category_id": 12}}, updated_ms=9),
             rule("c", {"redirect": {"channel": "/old"}}, priority=-1, updated_ms=99))
    snap = snapshot()
    c = scored(snap)
    report = report_page(rules_in_force(req(*rules)), c, c.take(np.arange(3)), [], 3, 10)
    assert report.redirect == {"rule_id": "b", "category_id": 12} and report.rules_applied == ["b"]


def test_rule_problems_refuse_pins_that_could_never_show():
    snap = snapshot()
    snap.products.columns["banned"][[1]] = 1
    snap.products.columns["stock"][[2]] = 0
    assert rule_problems(rule("ok", {"pin": [100]}), snap) == []
    problems = rule_problems(rule("p", {"pin": [101, 102, 5]}), snap)
    assert problems == ["pin: product 101 is banned: it would never show",
                        "pin: product 102 is sold out: it would not show until restocked",
                        "pin: product 5 is not in the catalog"]
    assert "at most 1 pins" in rule_problems(rule("p", {"pin": [100, 103]}), snap,
                                             MerchandisingSettings(max_pins_per_page=1))[0]


def test_rule_problems_refuse_a_rule_that_would_empty_the_page():
    snap = snapshot()
    assert rule_problems(rule("f", {"filter": {"category_id": 12}}), snap) == []
    assert rule_problems(rule("f", {"filter": {"category_id": 99}}), snap) == [
        "filter: the catalog has no product of category 99 the mall can show: the page would be empty"]
    on_page_11 = rule("f", {"filter": {"category_id": 12}}, {"category_id": 11})
    assert rule_problems(on_page_11, snap) == [
        "filter: category 11 has no product of category 12 the mall can show: the page would be empty"]
    snap.products.columns["stock"][:14] = 0  # category 11: only product 114 can show
    hide_all = rule("h", {"hide": [114]}, {"category_id": 11})
    assert rule_problems(hide_all, snap) == [
        "hide: every product of category 11 the mall can show is hidden: the page would be empty"]
    assert rule_problems(rule("h", {"hide": [114]}, {"query": "x", "category_id": 11}), snap) == []
    assert rule_problems(rule("b", {"boost": {"target": {"brand": "77"}, "by": 1}}), snap) == [
        "boost: brand 77 names no product of the catalog"]
    assert rule_problems(rule("r", {"redirect": {"category_id": 99}}), snap) == [
        "redirect: category 99 has no product in the catalog"]


def test_a_pin_plan_is_kept_per_candidate_array_and_made_anew_for_another():
    """The selector's plan is the report's for the same candidate array (kept by its identity);
    other candidates, even an equal copy, get their own plan, made from them."""
    found = rules_in_force(req(rule("p", {"pin": [121, 122], "at": [1, 2]})))
    ids = np.array([100, 121, 122, 101])
    first = plan_pins(found, ids, 10, 10)
    assert plan_pins(found, ids, 10, 10) is first
    assert [(p.product_id, row) for p, row in first.placed] == [(121, 1), (122, 2)]
    copy = ids.copy()
    again = plan_pins(found, copy, 10, 10)
    assert again is not first and again == first
    other = plan_pins(found, np.array([122, 100]), 10, 10)
    assert [(p.product_id, row) for p, row in other.placed] == [(122, 0)]
    assert [(p.product_id, why) for p, why in other.failed] == [(121, "removed")]
    assert plan_pins(found, ids, 10, 1) is not first  # another limit: its own plan
    assert plan_pins(found, ids, 10, 10) is first
