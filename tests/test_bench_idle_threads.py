"""bench.idle_threads: each follower's CPU a second and a poll between two readings."""

from __future__ import annotations

import pytest

from bench.idle_threads import per_thread


def test_each_followers_cpu_is_split_by_second_and_by_poll_and_the_bench_thread_left_out():
    cpu = {"live-tail": 1.0, "catalog-follower": 2.0, "merch-follower": 3.0, "MainThread": 5.0, "recall": 0.5}
    after = {"live-tail": 1.002, "catalog-follower": 2.001, "merch-follower": 3.0005, "MainThread": 9.0,
             "recall": 0.5001, "flush-exposures": 0.0002}
    count = {"live-tail": 10, "catalog-follower": 4, "merch-follower": 4}
    out = per_thread(cpu, after, count, {"live-tail": 30, "catalog-follower": 9, "merch-follower": 9}, 2.0)
    assert out["live-tail"] == {"us_per_second": pytest.approx(1000.0), "polls_per_second": 10.0,
                                "us_per_poll": pytest.approx(100.0)}
    assert out["catalog-follower"]["polls_per_second"] == 2.5
    assert out["catalog-follower"]["us_per_poll"] == pytest.approx(200.0)
    assert out["other"]["us_per_second"] == pytest.approx(150.0)  # recall and the flusher; not MainThread
    assert out["followers_us_per_second"] == pytest.approx(1000 + 500 + 250)
