"""bench.start_tables: a worker's start timed phase by phase, and its first pages checked for builds."""

from __future__ import annotations

import json
from pathlib import Path

from bench import start_tables


def test_a_start_is_timed_by_phase_and_its_first_pages_build_nothing_kept(small_models: Path, capsys) -> None:
    start_tables.main([str(small_models / "latest"), "--rounds", "1"])
    out = json.loads(capsys.readouterr().out)
    start = out["rounds"][0]
    assert not start["table_swapped_at_start"], "no change logged: the overlay keeps the bundle's table"
    assert 0 < start["warm_up_cpu_ms"] < start["start_cpu_ms"]
    assert 0 < start["build_tables_cpu_ms"] < start["start_cpu_ms"]
    assert {"search", "homepage", "rerank"} <= set(start["first_pages"])
    for page in start["first_pages"].values():
        assert page["cpu_ms"] > 0 and page["built"] == []
    assert out["lowest"]["start_cpu_ms"] == start["start_cpu_ms"]


def test_changes_logged_before_the_start_swap_the_table_at_the_first_overlay(small_models: Path,
                                                                             capsys) -> None:
    start_tables.main([str(small_models / "latest"), "--rounds", "1", "--changes", "3"])
    out = json.loads(capsys.readouterr().out)
    assert out["changes"] == 3 and out["rounds"][0]["table_swapped_at_start"]
    assert all(page["built"] == [] for page in out["rounds"][0]["first_pages"].values())
