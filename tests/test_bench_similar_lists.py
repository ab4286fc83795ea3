"""bench.similar_lists: the per-bundle lists' build cost, on the small bundle."""

from __future__ import annotations

import json
from pathlib import Path

from bench import similar_lists


def test_it_builds_a_list_for_every_non_zero_item_and_says_what_it_cost(small_models: Path, capsys) -> None:
    similar_lists.main([str(small_models / "latest"), "--threads", "1,2"])
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "exact" and out["k"] > 3 and [r["threads"] for r in out["runs"]] == [1, 2]
    for run in out["runs"]:
        assert 0 < run["lists"] <= out["items"] and run["bytes"] > 4 * run["lists"]
        assert run["cpu_s"] >= 0 and run["wall_s"] >= 0
    assert out["runs"][0]["lists"] == out["runs"][1]["lists"]
