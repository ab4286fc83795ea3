"""bench.request_components' component timers: ``--thread-cpu`` swaps the wall clock for the
thread's CPU clock."""

from __future__ import annotations

from bench import request_components


class _Part:
    def run(self) -> int:
        return 7


def test_components_are_timed_by_the_chosen_clock(monkeypatch) -> None:
    ticks = iter([10.0, 10.25])
    monkeypatch.setitem(request_components.CLOCK, "now", lambda: next(ticks))
    monkeypatch.setattr(request_components, "TOTALS", request_components.defaultdict(float))
    part = _Part()
    request_components._wrap(part, "run", "a part")
    assert part.run() == 7
    assert request_components.TOTALS["a part"] == 0.25


def test_the_hydrate_providers_are_timed_by_the_chosen_clock_too(monkeypatch) -> None:
    ticks = iter([3.0, 3.5])
    monkeypatch.setitem(request_components.CLOCK, "now", lambda: next(ticks))
    monkeypatch.setattr(request_components, "TOTALS", request_components.defaultdict(float))
    assert request_components._timed(lambda: 7, "a provider")() == 7
    assert request_components.TOTALS["a provider"] == 0.5
