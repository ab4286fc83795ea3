"""bench.idle_polls: the idle service's background threads, each one's CPU a second and a poll."""

from __future__ import annotations

import json
from pathlib import Path

from bench import idle_polls


def test_the_live_tail_and_both_followers_poll_and_are_timed_in_the_idle_app(small_models: Path,
                                                                             capsys) -> None:
    idle_polls.main([str(small_models / "latest"), "--seconds", "1.5", "--settle", "0.5", "--rounds", "2"])
    out = json.loads(capsys.readouterr().out)
    assert out["poll_ms"] == 100 and len(out["rounds"]) == 2
    for name in idle_polls.POLLERS:
        for reading in (*(r["threads"] for r in out["rounds"]), out["lowest"]["threads"]):
            thread = reading[name]
            assert 2 <= thread["polls_per_s"] <= 11, (name, thread)  # every 100 ms, late on a loaded machine
            assert 0 < thread["us_per_poll"] < 20_000 and thread["cpu_ms_per_s"] > 0, (name, thread)
    assert out["lowest"]["process_cpu_ms_per_s"] == min(r["process_cpu_ms_per_s"] for r in out["rounds"])


def test_a_thread_new_in_the_window_counts_whole_and_pool_threads_are_summed_by_name() -> None:
    before = {1: ("live-tail", 2.0), 2: ("AnyIO worker thread", 1.0), 3: ("AnyIO worker thread", 5.0)}
    # thread 3 ended and its ident went to a new pool thread; thread 4 started
    after = {1: ("live-tail", 2.5), 2: ("AnyIO worker thread", 1.25), 3: ("AnyIO worker thread", 0.5),
             4: ("shelfrank-page", 0.125)}
    assert idle_polls.by_name(before, after) == {"live-tail": 0.5, "AnyIO worker thread": 0.75,
                                                 "shelfrank-page": 0.125}
