"""bench.lexical_tiers: judged pairs in the documented columns give recall and overlap per cap (no
cut: the exact figures), and a bundle's first-time queries are timed and compared both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench import lexical_tiers

TITLES = ["cordless drill kit", "drill bit set", "red drill", "garden hose", "hose reel", "red hose",
          "drill press", "paint brush", "red paint", "paint roller"] * 6


def _pairs(path: Path) -> Path:
    rows = [{"id": i, "product_uid": 100 + i, "product_title": f"{t} {i}", "search_term": t.split()[0],
             "relevance": 3.0 if i % 3 else 1.0} for i, t in enumerate(TITLES)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_pairs_report_recall_and_overlap_per_cap(tmp_path: Path) -> None:
    got = lexical_tiers.pairs_report(_pairs(tmp_path / "pairs.csv"), [1.0, 0.05], [5],
                                     lexical_tiers.load_settings(["recall.lexical_rescore_multiple=1"]))
    assert got["products"] == len(TITLES) and got["queries"] == 6
    assert got["share_1.0_overlap@5"] == 1.0 and got["share_1.0_recall@5"] == got["exact_recall@5"]
    assert got["share_0.05_overlap@5"] < 1.0  # three postings a word, five asked: the cut is felt
    assert 0 < got["exact_recall@5"] <= 1


def test_bundle_report_times_both_recalls_on_first_time_queries(small_models: Path, capsys) -> None:
    lexical_tiers.main(["--set", "recall.lexical_postings_per_term=50", "bundle",
                        str(small_models / "latest"), "--queries", "30", "--sets", "200"])
    got = json.loads(capsys.readouterr().out)
    assert got["first_tier_postings"] < got["postings"] and got["per_term"] == 50
    for arm in ("typed", "synonyms"):
        assert 0 < got[f"{arm}_overlap@500"] <= 1
        assert got[f"{arm}_exact_cpu_ms_mean"] > 0 and got[f"{arm}_tiers_cpu_ms_mean"] > 0
