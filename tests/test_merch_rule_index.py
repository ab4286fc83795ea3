"""RuleIndex: which rules a request is under (match keys, schedule boundaries) and in what order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.in_force import rules_in_force
from ranking.merchandising.rule import Rule
from ranking.merchandising.rule_index import CompiledRule, RuleIndex, specificity
from ranking.pipeline.candidates import RankRequest
from ranking.settings import MerchandisingSettings

T0 = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def rule(id: str, match: dict, action: dict | None = None, **kw) -> Rule:
    return Rule.model_validate({"match": match, "action": action or {"hide": [1]}, "reason": "test",
                                "id": id, **kw})


def request(**kw) -> RankRequest:
    base = {"surface": "search", "page_size": 10, "now_ms": T0_MS, "hour": 9}
    return RankRequest(**{**base, **kw})


def ids(index: RuleIndex, **kw) -> list[str]:
    return [r.id for r in index.matching(request(**kw))]


def test_an_exact_query_matches_the_trimmed_query_only():
    index = RuleIndex([rule("a", {"query": "大米"})])
    assert ids(index, query="大米") == ["a"]
    assert ids(index, query="  大米 ") == ["a"]
    assert ids(index, query="大米饭") == [] and ids(index, query="Rice") == [] and ids(index) == []


def test_a_normalised_query_folds_width_case_accents_and_traditional_characters():
    index = RuleIndex([rule("n", {"normalised_query": "iPhone  Case"}),
                       rule("t", {"normalised_query": "平板电脑"})])
    assert ids(index, query="ＩＰＨＯＮＥ case") == ["n"]
    assert ids(index, query="iphone case ") == ["n"]
    assert ids(index, query="平板電腦") == ["t"]
    assert ids(index, query="iphone cases") == []


def test_contains_matches_a_word_of_the_query_as_the_search_reads_it():
    index = RuleIndex([rule("w", {"contains": "drill"}), rule("c", {"contains": "手机"}),
                       rule("two", {"contains": "cordless drill"})])
    assert ids(index, query="cordless drills") == ["two", "w"]  # stemmed; both words held
    assert ids(index, query="drill bits") == ["w"]
    assert ids(index, query="华为手机壳") == ["c"]
    assert ids(index, query="手表") == [] and ids(index, query="drilling") == []


def test_category_surface_and_homepage_matches():
    index = RuleIndex([rule("cat", {"category_id": 12}), rule("home", {"homepage": True}),
                       rule("chan", {"surface": "channel"})])
    assert ids(index, category_id=12) == ["cat"]
    assert ids(index, category_id=11) == []
    assert ids(index, surface="homepage") == ["home"]
    assert ids(index, surface="channel", category_id=12) == ["cat", "chan"]


def test_every_match_field_given_must_hold():
    index = RuleIndex([rule("both", {"query": "oil", "category_id": 3}),
                       rule("home_cat", {"homepage": True, "category_id": 3})])
    assert ids(index, query="oil") == []
    assert ids(index, query="oil", category_id=3) == ["both"]
    assert ids(index, surface="homepage") == []
    assert ids(index, surface="homepage", category_id=3) == ["home_cat"]
    assert ids(index, surface="search", category_id=3) == []


def test_start_is_inclusive_and_end_exclusive():
    start, end = T0, T0 + timedelta(hours=2)
    schedule = {"start": start.isoformat(), "end": end.isoformat()}
    index = RuleIndex([rule("s", {"query": "x"}, schedule=schedule)])
    end_ms = T0_MS + 2 * 3_600_000
    assert ids(index, query="x", now_ms=T0_MS - 1) == []
    assert ids(index, query="x", now_ms=T0_MS) == ["s"]
    assert ids(index, query="x", now_ms=end_ms - 1) == ["s"]
    assert ids(index, query="x", now_ms=end_ms) == []


def test_open_ended_schedules():
    index = RuleIndex([rule("from", {"query": "x"}, schedule={"start": T0.isoformat()}),
                       rule("until", {"query": "x"}, schedule={"end": T0.isoformat()})])
    assert ids(index, query="x", now_ms=T0_MS - 1) == ["until"]
    assert ids(index, query="x", now_ms=T0_MS + 10**12) == ["from"]


def test_schedule_times_in_another_zone_mean_the_same_instant():
    at = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    zoned = at.astimezone(ZoneInfo("Asia/Shanghai"))  # 16:00+08:00
    index = RuleIndex([rule("z", {"query": "x"}, schedule={"start": zoned.isoformat()})])
    at_ms = int(at.timestamp() * 1000)
    assert ids(index, query="x", now_ms=at_ms - 1) == [] and ids(index, query="x", now_ms=at_ms) == ["z"]


@pytest.mark.parametrize(("hours", "inside", "outside"), [
    ([8, 12], [8, 11], [7, 12, 23]),
    ([22, 6], [22, 23, 0, 5], [6, 12, 21]),  # wraps midnight
    ([0, 24], [0, 12, 23], []),
])
def test_hours_from_inclusive_to_exclusive_on_the_mall_clock(hours, inside, outside):
    index = RuleIndex([rule("h", {"query": "x"}, schedule={"hours": hours})])
    for hour in inside:
        assert ids(index, query="x", hour=hour) == ["h"], hour
    for hour in outside:
        assert ids(index, query="x", hour=hour) == [], hour


def test_slots_follow_the_malls_time_slots():
    index = RuleIndex([rule("m", {"query": "x"}, schedule={"slots": ["morning"]}),
                       rule("e", {"query": "x"}, schedule={"slots": ["evening"]})])
    assert ids(index, query="x", hour=6) == ["m"] and ids(index, query="x", hour=11) == ["m"]
    assert ids(index, query="x", hour=12) == []  # afternoon
    assert ids(index, query="x", hour=18) == ["e"] and ids(index, query="x", hour=3) == ["e"]


def test_the_order_is_action_then_priority_then_specificity_then_newer():
    rules = [
        rule("redirect", {"query": "x"}, {"redirect": {"channel": "/rice"}}, priority=100),
        rule("boost", {"query": "x"}, {"boost": {"target": {"brand": "A"}, "by": 1}}),
        rule("pin_word", {"contains": "x"}, {"pin": [1]}),
        rule("pin_query", {"query": "x"}, {"pin": [2]}),
        rule("pin_old", {"query": "x"}, {"pin": [3]}, priority=5, updated_ms=1),
        rule("pin_new", {"query": "x"}, {"pin": [4]}, priority=5, updated_ms=2),
        rule("filter", {"query": "x"}, {"filter": {"brand": "A"}}),
        rule("hide", {"contains": "x"}, {"hide": [9]}, priority=-5),
    ]
    assert ids(RuleIndex(rules), query="x") == ["hide", "filter", "pin_new", "pin_old", "pin_query",
                                               "pin_word", "boost", "redirect"]
    assert specificity(rules[3]) > specificity(rules[2])


def test_matching_looks_only_at_the_requests_keys():
    rules = [rule(f"q{i}", {"query": f"query {i}"}, {"pin": [i + 1]}) for i in range(1000)]
    rules += [rule("w", {"contains": "rice"}), rule("c", {"category_id": 7})]
    index = RuleIndex(rules)
    checked = []
    original = CompiledRule.holds

    def counting(self, view):
        checked.append(self.rule.id)
        return original(self, view)

    CompiledRule.holds = counting
    try:
        assert ids(index, query="query 17") == ["q17"]
        assert ids(index, query="brown rice", category_id=7) == ["w", "c"]
    finally:
        CompiledRule.holds = original
    assert sorted(checked) == ["c", "q17", "w"]  # three rules checked, not 1,002


def test_the_book_builds_its_index_once_and_the_request_keeps_what_matched():
    book = MerchandisingBook((rule("a", {"query": "x"}),))
    assert book.rule_index is book.rule_index
    req = request(query="x", merchandising=book)
    found = rules_in_force(req)
    assert [r.id for r in found.rules] == ["a"] and rules_in_force(req) is found
    assert rules_in_force(request(query="x")) is None  # no book
    assert rules_in_force(request(query="x", merchandising=MerchandisingBook())) is None
    assert rules_in_force(request(query="y", merchandising=book)) is None  # nothing matches


def test_a_request_ranked_with_another_book_is_matched_again():
    req = request(query="x", merchandising=MerchandisingBook((rule("a", {"query": "x"}),)))
    assert [r.id for r in rules_in_force(req).rules] == ["a"]
    req.merchandising = req.merchandising.with_rule(rule("b", {"query": "x"}, priority=1))
    assert [r.id for r in rules_in_force(req).rules] == ["b", "a"]


def test_at_most_max_rules_per_request_apply_the_most_important_kept():
    rules = [rule(f"b{i}", {"query": "x"}, {"boost": {"target": {"product_ids": [i]}, "by": 1}}, priority=i)
             for i in range(5)]
    rules.append(rule("hide_low", {"query": "x"}, priority=-1))
    found = rules_in_force(request(query="x", merchandising=MerchandisingBook(tuple(rules))),
                           MerchandisingSettings(max_rules_per_request=3))
    assert [r.id for r in found.rules] == ["b4", "b3", "b2"] and found.skipped == 3
