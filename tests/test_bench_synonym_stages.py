"""bench.synonym_stages: each arm on its own engine, pages and stages timed by thread CPU; the
held arm ranks what the per-query arm ranks (the same candidates and rows)."""

from __future__ import annotations

from pathlib import Path

from bench import synonym_stages


def test_the_arms_split_by_stage_and_held_terms_rank_what_per_query_terms_rank(small_models: Path) -> None:
    got = synonym_stages.run(small_models / "latest", queries=12, sets=200)
    assert got["queries"] == 12
    for arm in synonym_stages.ARMS:
        a = got[arm]
        assert 0 < a["cpu_p50_ms"] <= a["cpu_p99_ms"] and a["rows_ranked"] > 0
    assert got["held"]["candidates"] == got["per_query"]["candidates"] >= got["none"]["candidates"]
    assert got["held"]["rows_ranked"] == got["per_query"]["rows_ranked"]
    stages = got["stages_ms"]
    assert {"stage recall", "stage hydrate", "stage select", "model: score", "recall: lexical"} <= set(stages)
    assert all(set(v) == set(synonym_stages.ARMS) for v in stages.values())
