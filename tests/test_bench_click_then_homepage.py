"""bench.click_then_homepage: a shopper's homepage right after their click, with the lists computed
ahead (every shopper warmed) and without (none)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from bench import click_then_homepage
from ranking.recall.homepage_sources.personal import Personal


def test_each_shopper_clicks_then_asks_and_the_page_reads_the_lists_ahead(small_models: Path, capsys,
                                                                          monkeypatch) -> None:
    """With the lists ahead on, no page thread scans ``personal`` (the service's own wiring gave
    the page's keys); without, the pages scan."""
    scans: list[str] = []
    search = Personal.search

    def counted(self, context, k):
        scans.append(threading.current_thread().name)
        return search(self, context, k)

    monkeypatch.setattr(Personal, "search", counted)
    click_then_homepage.main([str(small_models / "latest"), "--shoppers", "4", "--warm", "2", "--gap", "0.4"])
    on = json.loads(capsys.readouterr().out)
    assert on["shoppers"] == 4 and on["lists_ahead"] and on["shoppers_warmed"] == 4
    assert 0 < on["p50_ms"] <= on["p99_ms"]
    assert scans and set(scans) == {"homepage-ahead"}  # the warm scanned, no page did
    scans.clear()
    click_then_homepage.main([str(small_models / "latest"), "--shoppers", "2", "--warm", "1",
                              "--set", "recall.homepage_lists_ahead=false"])
    off = json.loads(capsys.readouterr().out)
    assert not off["lists_ahead"] and off["shoppers_warmed"] == 0
    assert scans and "homepage-ahead" not in scans  # the pages scanned themselves
