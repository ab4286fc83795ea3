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


def test_the_components_report_names_each_slow_pages_shopper_and_what_it_spent_above_the_median():
    served = [{"wall_ms": 5.0, "cpu_ms": 5.0, "threads": {}, "body": i % 4, "first": i < 4, "gc": [],
               "components": {"recall: personal": 0.1, "model": 1.0, "homepage stage recall": 0.3}}
              for i in range(40)]
    served[2].update(wall_ms=12.0, gc=[(0, 0.4)])
    served[2]["components"] = {"recall: personal": 1.6, "model": 1.1, "homepage stage recall": 2.0}
    out = report(served, slowest=1)
    slow = out["slowest"][0]
    assert slow["i"] == 2 and slow["body"] == 2 and slow["first"] and slow["gc"] == [(0, 0.4)]
    assert slow["over_median"] == {"recall: personal": 1.5, "model": 0.1}  # stages left out
    assert out["collections"] == 1


def test_the_report_parts_a_pages_own_cpu_from_the_background_threads_and_first_pages_from_repeats():
    served = [{"wall_ms": 5.0, "cpu_ms": 5.0, "threads": {"shelfrank-page": 4.0, "MainThread": 1.0},
               "body": i % 50, "first": i < 50, "gc": [], "components": {"model": 1.0}} for i in range(200)]
    for i in range(0, 50):
        served[i]["threads"]["shelfrank-page"] = 4.5  # a body's first page
    for i in (60, 120, 180):
        served[i]["threads"]["live-tail"] = 4.0  # the tail's apply beside three pages
    out = report(served, slowest=2)
    assert out["own_cpu_ms"][99] == 5.5 and out["own_cpu_ms"][50] == 5.0
    assert out["with_background_cpu_ms"][99.5] > 8.0 and out["with_background_cpu_ms"][50] == 5.0
    assert out["page_thread_first_vs_repeat_ms"] == {"first": 4.5, "repeat": 4.0}
