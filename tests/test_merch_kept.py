"""What the merchandising path keeps across requests: the rules in force per request key (query,
category, surface, hour, limit) and span of ``now_ms`` in the book's index, and what is derived
once per set of rules (kinds, pins, moves, the report's texts); and that whatever decides a
request's rules (the clock crossing a rule's start or end, the hour, the book) is read afresh."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from rules_mall import rules_request, rules_snapshot, scored

from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.in_force import rules_in_force
from ranking.merchandising.page_report import report_page
from ranking.merchandising.pins import plan_pins
from ranking.merchandising.rule import Rule, RuleTarget
from ranking.merchandising.rule_index import RuleIndex
from ranking.merchandising.targets import TargetPlan, among, target_mask, target_masks
from ranking.pipeline.adjusters import MerchandisingMoves
from ranking.settings import MerchandisingSettings

T0 = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
HOUR_MS = 3_600_000


def rule(id: str, match: dict | None = None, action: dict | None = None, **kw) -> Rule:
    return Rule.model_validate({"match": match or {"query": "rice"}, "action": action or {"hide": [1]},
                                "reason": f"why {id}", "id": id, **kw})


def in_force(book: MerchandisingBook, **kw) -> list[str]:
    """The ids of the rules in force for a fresh request (a new page: nothing in its ``hydrated``)."""
    found = rules_in_force(rules_request(**{"query": "rice", "now_ms": T0_MS, **kw, "merchandising": book}))
    return [] if found is None else [r.id for r in found.rules]


@pytest.fixture
def spans(monkeypatch) -> list:
    """Each time the index matches a request (not served from its memo)."""
    calls: list = []
    inner = RuleIndex.matching_span

    def counting(self, request):
        calls.append((request.query, request.hour, request.now_ms))
        return inner(self, request)

    monkeypatch.setattr(RuleIndex, "matching_span", counting)
    return calls


def test_a_request_key_is_matched_once_then_kept(spans):
    book = MerchandisingBook((rule("a"), rule("b", action={"pin": [103]})))
    first = rules_in_force(rules_request(query="rice", now_ms=T0_MS, merchandising=book))
    again = rules_in_force(rules_request(query="rice", now_ms=T0_MS + 60_000, merchandising=book))
    assert [r.id for r in again.rules] == ["a", "b"] and len(spans) == 1
    assert again is not first and again.shared is first.shared  # kinds, pins: made once
    assert again.derived is not first.derived  # the pin plan is each request's own
    plan_pins(first, np.array([103, 104]), 10, 10)
    assert not again.derived and plan_pins(again, np.array([104]), 10, 10).failed
    in_force(book, query="oil"), in_force(book, query="oil")
    in_force(book, hour=10), in_force(book, category_id=12)
    assert len(spans) == 4  # another query, hour or category is matched on its own


def test_a_rule_starting_or_ending_at_a_boundary_takes_effect_on_the_next_page(spans):
    end_ms = T0_MS + 2 * HOUR_MS
    two_hours = {"start": T0.isoformat(), "end": (T0 + timedelta(hours=2)).isoformat()}
    book = MerchandisingBook((rule("always"), rule("s", schedule=two_hours)))
    assert in_force(book, now_ms=T0_MS - 1) == ["always"]
    assert in_force(book, now_ms=T0_MS) == ["always", "s"]  # the first page at its start
    assert in_force(book, now_ms=end_ms - 1) == ["always", "s"]
    assert in_force(book, now_ms=end_ms) == ["always"]  # the first page at its end
    assert in_force(book, now_ms=end_ms + HOUR_MS) == ["always"]
    assert in_force(book, now_ms=T0_MS + 1) == ["always", "s"]  # a clock read out of order
    assert len(spans) == 4  # end_ms - 1 and end_ms + 1h were inside the spans kept


def test_the_span_kept_is_between_the_nearest_start_and_end():
    index = RuleIndex([rule("s", schedule={"start": T0.isoformat()}),
                       rule("e", schedule={"end": (T0 + timedelta(hours=3)).isoformat()}),
                       rule("other", {"query": "oil"}, schedule={"start": "2026-12-05T01:00:00+00:00"})])
    _, since, until = index.matching_span(rules_request(query="rice", now_ms=T0_MS + 10))
    assert (since, until) == (T0_MS, T0_MS + 3 * HOUR_MS)  # "other" does not match: no bound
    _, since, until = index.matching_span(rules_request(query="rice", now_ms=T0_MS - 10))
    assert (since, until) == (-math.inf, T0_MS)
    _, since, until = index.matching_span(rules_request(query="bread", now_ms=T0_MS))
    assert (since, until) == (-math.inf, math.inf)


@pytest.mark.parametrize("schedule, hours_in", [({"hours": [22, 6]}, {22, 23, 0, 5}),
                                                ({"slots": ["morning"]}, {6, 9, 11})])
def test_hours_and_slots_are_read_at_each_requests_hour(schedule, hours_in):
    book = MerchandisingBook((rule("h", schedule=schedule),))
    for hour in [*range(24), *range(24)]:  # the second round from the memo
        assert (in_force(book, hour=hour) == ["h"]) == (hour in _hours_of(schedule)), hour
    assert hours_in <= _hours_of(schedule)


def _hours_of(schedule: dict) -> set[int]:
    if "hours" in schedule:
        lo, hi = schedule["hours"]
        return {h for h in range(24) if (lo <= h < hi if lo < hi else (h >= lo or h < hi))}
    return set(range(6, 12))  # ranking.mall_clock's morning


def test_a_new_book_and_another_rule_limit_are_matched_afresh(spans):
    book = MerchandisingBook((rule("a"),))
    assert in_force(book) == ["a"]
    newer = book.with_rule(rule("b", priority=1))
    assert in_force(newer) == ["b", "a"] and in_force(newer.without({"b"})) == ["a"]
    request = rules_request(query="rice", now_ms=T0_MS, merchandising=newer)
    limited = rules_in_force(request, MerchandisingSettings(max_rules_per_request=1))
    assert [r.id for r in limited.rules] == ["b"] and limited.skipped == 1
    assert len(spans) == 4


def test_the_index_pickles_without_what_it_kept():
    book = MerchandisingBook((rule("a"),))
    in_force(book)
    assert len(book.rule_index.kept) == 1
    index = pickle.loads(pickle.dumps(book.rule_index))
    assert len(index.kept) == 0 and [r.id for r in index.matching(rules_request(query="rice"))] == ["a"]


def test_moves_are_made_once_per_set_of_rules_and_notes_each_page():
    snap = rules_snapshot()
    book = MerchandisingBook((rule("up", action={"boost": {"target": {"category_id": 12}, "by": 2}}),
                              rule("down", action={"bury": {"target": {"store_id": 2}, "by": 0.5}})))
    pages = []
    for _ in range(2):
        c = scored(snap)
        request = rules_request(query="rice", now_ms=T0_MS, merchandising=book)
        MerchandisingMoves().apply(c, request, snap)
        pages.append(c)
    first, second = pages
    assert np.array_equal(first.adjustments, second.adjustments) and first.adjustments.any()
    assert [n for n, _ in first.noted_moves] == [n for n, _ in second.noted_moves]
    assert first.noted_moves[0][1] is not second.noted_moves[0][1]  # each page's own moves


def test_moves_are_each_rules_np_where_added_in_the_conflict_order_to_the_bit():
    """All rules' moves come from one ``np.where`` and are added rule by rule: the floats of one
    ``np.where`` per rule added in turn; a rule hitting no candidate adds and notes nothing; the
    signed moves are kept per set of rules, and another book's rules make their own."""
    snap = rules_snapshot()
    rules = (rule("up", action={"boost": {"target": {"category_id": 12}, "by": 0.3}}),
             rule("none", action={"boost": {"target": {"category_id": 77}, "by": 1}}),
             rule("down", action={"bury": {"target": {"store_id": 2}, "by": 0.7}}),
             rule("top", action={"boost": {"target": {"category_id": 1}, "by": 0.1}}))
    prior = np.random.default_rng(3).normal(0, 1e3, 30)  # earlier adjusters' moves: the order matters

    def page(book):
        c = scored(snap)
        c.adjustments = prior.copy()
        request = rules_request(query="rice", now_ms=T0_MS, merchandising=book)
        MerchandisingMoves().apply(c, request, snap)
        return c, rules_in_force(request)

    c, found = page(MerchandisingBook(rules))
    want, hit_ids, by = prior.copy(), [], {"up": 0.3, "none": 1.0, "down": -0.7, "top": 0.1}
    for r in found.of("boost", "bury"):  # the conflict order
        hit = target_mask(r.action.boost.target if r.action.boost else r.action.bury.target, c, snap)
        if hit.any():
            want += np.where(hit, by[r.id], 0.0)
            hit_ids.append(r.id)
    assert np.array_equal(c.adjustments.view(np.int64), want.view(np.int64))
    assert [n["rule_id"] for n, _ in c.noted_moves] == hit_ids and "none" not in hit_ids
    assert {n["rule_id"]: m[m != 0].tolist() for n, m in c.noted_moves}["down"] == [-0.7] * 10
    deltas = found.shared["deltas"]
    assert deltas.tolist() == [by[r.id] for r in found.of("boost", "bury")] and not deltas.flags.writeable
    other = MerchandisingBook((rule("up", action={"bury": {"target": {"category_id": 12}, "by": 0.3}}),))
    c2, found2 = page(other)
    assert found2.shared["deltas"].tolist() == [-0.3]
    assert np.array_equal(c2.adjustments, prior + np.where(np.arange(30) >= 15, -0.3, 0.0))


def test_target_masks_equal_each_targets_own_mask():
    snap = rules_snapshot()
    snap.products.columns["brand_id"] = (np.arange(30) % 5).astype(np.float32)
    c = scored(snap, np.array([100, 105, 112, 117, 121, 129, 999]))
    targets = [RuleTarget(category_id=12), RuleTarget(store_id=2), RuleTarget(product_ids=[105, 999]),
               RuleTarget(brand="2"), RuleTarget(category_id=1), RuleTarget(store_id=77),
               RuleTarget(category_id=11), RuleTarget(brand="nobody")]
    masks = target_masks(targets, c, snap)
    assert masks.shape == (len(targets), len(c))
    for target, mask in zip(targets, masks, strict=True):
        assert mask.tolist() == target_mask(target, c, snap).tolist(), target
    assert masks.any(axis=1).tolist() == [True, True, True, True, True, False, True, False]

    kept = TargetPlan(targets)
    for other in (c, scored(snap, np.array([129, 112, 100]))):  # a plan is read for any candidates
        want = target_masks(targets, other, snap).tolist()
        assert target_masks(targets, other, snap, plan=kept).tolist() == want


def test_the_targets_plan_is_made_once_per_set_of_rules_and_afresh_for_another(monkeypatch):
    """How the boost and bury targets are read (``TargetPlan``) is kept with the rules' moves: the
    next page under the same rules reads it, another book's rules make their own."""
    import ranking.pipeline.adjusters.merchandising as adjuster

    made = []
    monkeypatch.setattr(adjuster, "TargetPlan", lambda targets: made.append(targets) or TargetPlan(targets))
    snap = rules_snapshot()
    book = MerchandisingBook((rule("up", action={"boost": {"target": {"category_id": 12}, "by": 2}}),
                              rule("down", action={"bury": {"target": {"store_id": 2}, "by": 0.5}})))
    for _ in range(3):
        request = rules_request(query="rice", now_ms=T0_MS, merchandising=book)
        MerchandisingMoves().apply(scored(snap), request, snap)
    assert len(made) == 1
    other = MerchandisingBook((rule("up", action={"bury": {"target": {"store_id": 1}, "by": 0.3}}),))
    c = scored(snap)
    MerchandisingMoves().apply(c, rules_request(query="rice", now_ms=T0_MS, merchandising=other), snap)
    assert len(made) == 2 and [t.store_id for t in made[1]] == [1]
    assert np.array_equal(c.adjustments != 0, target_mask(RuleTarget(store_id=1), c, snap))


def test_two_pins_above_a_card_name_both_rules():
    snap = rules_snapshot()
    request = rules_request(query="rice", now_ms=T0_MS, merchandising=MerchandisingBook((
        rule("q", action={"pin": [121], "at": [4]}), rule("p", action={"pin": [120], "at": [1]}))))
    c = scored(snap)
    found = rules_in_force(request)
    page = c.take(np.concatenate([[20], np.arange(1, 3), [21], np.arange(3, 8)]))
    for at in (0, 3):
        page.rule_notes[at].append({"rule": "merch_pin", "rule_id": "p" if at == 0 else "q",
                                    "position": at + 1, "why": "x"})
    report_page(found, c, page, [], len(page), 10)
    assert page.rule_notes[1] == [{"rule": "merch_pinned_above", "rule_ids": ["p"],
                                   "why": "1 pinned card above moved it down"}]
    assert page.rule_notes[4] == [{"rule": "merch_pinned_above", "rule_ids": ["p", "q"],
                                   "why": "2 pinned cards above moved it down"}]


@pytest.mark.parametrize("k", [0, 1, 4, 5, 30, 100])
def test_among_is_isin_whichever_way_it_compares(k):
    rng = np.random.default_rng(k)
    for _ in range(50):
        values, few = rng.integers(-3, 60, int(rng.integers(0, 80))), rng.integers(-3, 60, k)
        got = among(values, few)
        assert got.dtype == bool and got.tolist() == np.isin(values, few).tolist()
    assert among(np.array([5, 200]), np.arange(10)).tolist() == [True, False]  # past the largest id
