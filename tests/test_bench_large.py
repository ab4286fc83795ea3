"""bench.bench_large: the 1M run's one-worker results judged by the 1M goal (search p99 <= 10 ms),
not by the default mall's 5 ms that bench.speed's own keys judge."""

from __future__ import annotations

from bench.bench_large import SEARCH_GOAL_P99_MS, large_goals


def test_search_is_judged_against_ten_ms_and_the_five_ms_verdicts_are_left_out() -> None:
    speed = {"search_p99_ms": 7.81, "search_p99_goal_met": False, "homepage_p99_ms": 6.55,
             "homepage_p99_goal_met": False, "rerank_p99_goal_met": False,
             "first_visit_search_p99_ms": 25.92, "first_visit_search_p99_goal_met": False,
             "first_visit_homepage_p99_goal_met": False, "noop_p99_ms": 0.8}
    got = large_goals(speed)
    assert SEARCH_GOAL_P99_MS == 10.0
    assert got["search_p99_goal_met"] is True and got["search_p99_goal_ms"] == 10.0
    assert got["first_visit_search_p99_goal_met"] is False
    assert "homepage_p99_goal_met" not in got and "rerank_p99_goal_met" not in got
    assert "first_visit_homepage_p99_goal_met" not in got
    assert got["homepage_p99_ms"] == 6.55 and got["noop_p99_ms"] == 0.8  # the readings kept


def test_a_first_visit_under_ten_ms_meets_it_and_ten_exactly_does() -> None:
    got = large_goals({"search_p99_ms": 10.0, "search_p99_goal_met": False,
                       "first_visit_search_p99_ms": 7.0, "first_visit_search_p99_goal_met": False})
    assert got["search_p99_goal_met"] is True and got["first_visit_search_p99_goal_met"] is True


def test_a_skipped_run_stays_skipped() -> None:
    assert large_goals({"skipped": "wrk is not installed"}) == {"skipped": "wrk is not installed"}
