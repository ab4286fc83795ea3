"""bench.click_then_homepage: a shopper's homepage right after their click, with the lists computed
ahead (every shopper warmed) and without (none)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import click_then_homepage


def test_each_shopper_clicks_then_asks_and_the_lists_ahead_are_counted(small_models: Path, capsys) -> None:
    click_then_homepage.main([str(small_models / "latest"), "--shoppers", "4", "--warm", "2", "--gap", "0.4"])
    on = json.loads(capsys.readouterr().out)
    assert on["shoppers"] == 4 and on["lists_ahead"] and on["shoppers_warmed"] == 4
    assert 0 < on["p50_ms"] <= on["p99_ms"]
    click_then_homepage.main([str(small_models / "latest"), "--shoppers", "2", "--warm", "1",
                              "--set", "recall.homepage_lists_ahead=false"])
    off = json.loads(capsys.readouterr().out)
    assert not off["lists_ahead"] and off["shoppers_warmed"] == 0
