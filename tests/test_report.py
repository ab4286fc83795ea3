"""The evaluation report (training.evaluation.report) is written with its tables and PNG plots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.evaluation.report import (
    IMPORTANCE_PLOT,
    NDCG_PLOT,
    POSITION_BIAS_PLOT,
    SCORES_PLOT,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RANKERS = ("model", "oracle", "logging_policy", "popularity")


def fake_metrics(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def table() -> dict:
        return {r: {"ndcg@5": rng.random(), "ndcg@10": rng.random(), "ndcg@20": rng.random(),
                    "mrr": rng.random(), "map": rng.random()} for r in RANKERS}

    return {"surfaces": {"search": table(), "all": table(), "homepage": table()},
            "fraction_of_oracle_ndcg@10": 0.8123, "requests": 4321, "bundle": "20261123-0500"}


def curves() -> tuple[pd.DataFrame, pd.DataFrame]:
    pos = np.arange(1, 21)
    true = pd.DataFrame({"surface": np.repeat(["search", "homepage"], 20), "position": np.tile(pos, 2),
                         "examination": np.concatenate([pos**-0.7, pos**-0.5])})
    est = true.assign(ci_low=true.examination * 0.9, ci_high=true.examination * 1.1,
                      impressions=100, clicks=10,
                      method=np.where(true.position <= 10, "randomised", "power_law_extrapolation"))
    return est, true


def test_report_is_written_with_its_tables_and_four_png_plots(tmp_path):
    rng = np.random.default_rng(1)
    importance = pd.DataFrame({"feature": [f"f{i}" for i in range(40)], "gain": rng.random(40),
                               "group": rng.choice(["store", "product"], 40)})
    est, true = curves()
    samples = {r: rng.normal(size=2000) for r in RANKERS}
    report = write_report(tmp_path / "eval", fake_metrics(), importance, est, true, samples)

    assert report == tmp_path / "eval" / "report.md"
    text = report.read_text()
    for plot in (NDCG_PLOT, IMPORTANCE_PLOT, POSITION_BIAS_PLOT, SCORES_PLOT):
        assert f"]({plot})" in text
        data = (report.parent / plot).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000
    assert "0.8123" in text and "4,321" in text
    # surfaces in a fixed order (all first), oracle first among rankers
    assert text.index("## all") < text.index("## search") < text.index("## homepage")
    search = text[text.index("## search"):text.index("## homepage")]
    assert search.index("| oracle |") < search.index("| model |")
    value = fake_metrics()["surfaces"]["search"]["model"]["ndcg@10"]
    assert f"{value:.4f}" in search


def test_report_without_position_bias_or_importance_still_has_the_ndcg_plot(tmp_path):
    report = write_report(tmp_path, fake_metrics(), pd.DataFrame(columns=["feature", "gain"]), None, None, {})
    assert (tmp_path / NDCG_PLOT).exists()
    assert not (tmp_path / POSITION_BIAS_PLOT).exists()
    assert POSITION_BIAS_PLOT not in report.read_text()


def test_malformed_metrics_are_refused(tmp_path):
    with pytest.raises(ValueError, match="surfaces"):
        write_report(tmp_path, {"ndcg@10": 0.5}, pd.DataFrame(), None, None, {})
