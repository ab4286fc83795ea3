"""The catalog and merchandising followers poll less while nothing changes (ranking/live/
idle_backoff.py), and still see another worker's change within the longest wait."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from ranking.event_log import EventLog
from ranking.live.catalog_feed import LogCatalogFeed
from ranking.live.catalog_follower import CatalogFollower
from ranking.live.idle_backoff import Backoff
from ranking.live.merch_follower import MerchFollower
from ranking.merchandising.changes import MERCH_RULES, MERCH_TABLES, PUT, change_line
from ranking.settings import LiveSettings


def test_the_wait_doubles_while_polls_find_nothing_and_drops_when_one_does():
    backoff = Backoff(0.1, 0.4)
    assert backoff.wait == 0.1
    assert [backoff.after(False) for _ in range(4)] == [0.2, 0.4, 0.4, 0.4]
    assert backoff.after(True) == 0.1 and backoff.after(False) == 0.2
    assert Backoff(0.1).after(False) == 0.1  # no longest wait given: every poll_ms, as before
    assert Backoff(0.1, 0.05).after(False) == 0.1  # never shorter than poll_ms
    assert LiveSettings().idle_poll_factor * LiveSettings().poll_ms <= 500  # inside issue 26's 1 s, with room


def _rule(rid: str, at: int) -> dict:
    return {"match": {"query": "大米"}, "action": {"pin": [1, 2]}, "reason": "r", "id": rid,
            "author": "operator", "created_ms": at, "updated_ms": at}


def test_an_idle_merchandising_follower_polls_less_and_sees_another_workers_change(tmp_path: Path):
    follower = MerchFollower([LogCatalogFeed(tmp_path, MERCH_TABLES)], poll_ms=20, idle_ms=160)
    follower.start()
    try:
        time.sleep(0.3)  # the wait grows to 160 ms
        polls = follower.polls
        time.sleep(1.0)
        idle = follower.polls - polls
        assert 4 <= idle <= 9, idle  # ~6 polls a second, not 50
        line = change_line(PUT, "r-a", _rule("r-a", 1000), "operator", "r", 1000)
        EventLog(tmp_path, writer="other").append({MERCH_RULES: [line]}, client="operator")
        sent = time.perf_counter()
        while not follower.book.rules:
            assert time.perf_counter() - sent < 1.0, "another worker's change not folded within a second"
            time.sleep(0.005)
        assert time.perf_counter() - sent < 0.16 + 0.3  # the longest wait, and a loaded machine's slack
        polls = follower.polls
        time.sleep(0.1)
        assert follower.polls - polls >= 2  # a poll that found a change: every poll_ms again
    finally:
        follower.stop()


def test_an_idle_catalog_follower_polls_less_and_a_failing_feed_is_retried_every_poll():
    state = {"fail": False}

    def poll() -> list:
        if state["fail"]:
            raise ConnectionError("redis down")
        return []

    follower = CatalogFollower(SimpleNamespace(poll=poll, close=lambda: None), list, 20, 0.5, idle_ms=200)
    follower.start()
    try:
        time.sleep(0.4)
        polls = follower.polls
        time.sleep(1.0)
        assert 3 <= follower.polls - polls <= 8, follower.polls - polls  # ~5 a second, not 50
        state["fail"] = True
        time.sleep(0.3)  # the wait drops back to poll_ms at the first failure
        failures = follower.failures
        time.sleep(0.5)
        assert follower.failures - failures >= 12  # every ~20 ms, as before the backoff
    finally:
        follower.stop()
