"""bench.slow_pages' report: percentiles, the slowest pages first, and the pages the live tail ran beside."""

from __future__ import annotations

from bench.slow_pages import report, thread_cpu


def test_the_report_lists_the_slowest_pages_with_their_threads():
    served = [{"wall_ms": float(w), "cpu_ms": float(w) / 2, "threads": {"shelfrank-page": float(w) / 2}}
              for w in range(1, 101)]
    served[10]["threads"]["live-tail"] = 9.5  # a page the tail's apply ran beside
    out = report(served, slowest=3)
    assert [s["i"] for s in out["slowest"]] == [99, 98, 97]
    assert out["wall_ms"][50] == 50.5 and out["cpu_ms"][99] == 49.51
    assert out["pages_with_live_tail_over_2ms"] == 1


def test_every_running_thread_has_a_cpu_clock():
    assert thread_cpu()["MainThread"] > 0
