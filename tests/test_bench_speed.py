"""The speed benchmark's set-up (bench/speed.py) is valid: its book of 1,000 rules and its synonym
sets (the first 1,000 of its 10,000) import into the real app and are in force, its search
bodies are accepted, and its mixed wrk script posts the three pages in turn."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from bench.speed import PAGES, RULES, mixed_script, workload
from ranking.settings import load_settings
from serving.app import create_app

OPERATOR = {"Authorization": "Bearer s3cret"}
SETS = 1_000  # of the 10,000: importing all of them only takes longer


def test_the_benchmark_book_imports_whole_and_its_requests_are_served(small_models: Path, tmp_path: Path):
    bundle = (small_models / "latest").resolve()
    book, bodies = workload(bundle, synonyms=SETS)  # the same sets as the benchmark's first SETS
    assert len(book["rules"]) == RULES and len(book["synonyms"]) == SETS
    settings = load_settings([f"serving.bundle={bundle}", f"serving.events_dir={tmp_path / 'events'}",
                              "serving.admin_token=s3cret", "live.backend=embedded"])
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/merchandising/import?mode=replace", json=book, headers=OPERATOR)
        assert r.status_code == 200, r.text[:500]
        assert r.json()["rules"] == RULES and r.json()["synonyms"] == SETS
        for page in ("search", "homepage", "rerank"):
            for body in bodies[page][:5]:
                r = client.post(PAGES[page], json=body)
                assert r.status_code == 200, (page, body, r.text[:300])
        applied = [client.post("/v1/search", json=b).json()["rules_applied"] for b in bodies["search"][:40]]
        assert any(applied), "the benchmark's searches meet the rules they are meant to exercise"
    script = mixed_script(bodies, tmp_path).read_text()
    assert all(f'"{PAGES[p]}"' in script for p in ("search", "homepage", "rerank"))
