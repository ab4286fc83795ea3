"""The test helpers' own settings for the services they start (tests/service_process.py)."""

from __future__ import annotations

from service_process import service_sets

from ranking.settings import load_settings


def test_the_tests_services_drain_for_no_time_unless_a_test_sets_the_drain():
    assert load_settings(service_sets(None)).serving.drain_seconds == 0
    sets = service_sets(["live.backend=embedded"])
    assert load_settings(sets).serving.drain_seconds == 0 and "live.backend=embedded" in sets
    own = ["serving.drain_seconds=0.5", "serving.admin_token=x"]
    assert service_sets(own) == own and load_settings(own).serving.drain_seconds == 0.5
    assert load_settings([]).serving.drain_seconds == 1.0, "the default the helper overrides"
