"""``shelfrank evaluate`` on a mall without simulator truth (a real mall): the report leads with
the counterfactual estimate (or why there is none) and the interleaving plan, says plainly that
click metrics favour the ranking that produced the clicks, and draws no empty chart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from ranking.contracts import read_table, write_table
from shelfrank.cli import app
from training.evaluation.no_truth import CLICK_BIAS, NOT_RANDOMISED, sign_test_pages
from training.evaluation.report import MRR_PLOT, NDCG_PLOT, POSITION_BIAS_PLOT

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ["--set", "training.funnel.num_boost_round=10", "--set", "training.compile_scorer=false",
        "--set", "training.live_features=false"]


@pytest.fixture(scope="module")
def untrue_mall(small_mall: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The small mall without its truth/, and a bundle trained on it."""
    mall = tmp_path_factory.mktemp("untrue") / "mall"
    shutil.copytree(small_mall, mall, ignore=shutil.ignore_patterns("truth"))
    models = mall.parent / "models"
    trained = runner.invoke(app, [*FAST, "train", "--data", str(mall), "--out", str(models), "--no-progress"])
    assert trained.exit_code == 0, trained.output
    return mall, models / "latest"


def _plots_are_drawn(report: Path) -> list[str]:
    """Every PNG the report shows exists and holds a drawing (no empty file); their names."""
    text = report.read_text()
    shown = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    for name in shown:
        data = (report.parent / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, name
    return shown


def test_the_counterfactual_estimate_leads_and_the_click_bias_is_said(untrue_mall, tmp_path: Path) -> None:
    mall, bundle = untrue_mall
    out = runner.invoke(app, [*FAST, "evaluate", str(bundle), "--data", str(mall), "--report",
                              str(tmp_path / "r"), "--json", str(tmp_path / "m.json"), "--no-progress"])
    assert out.exit_code == 0, out.output
    printed = out.output
    assert printed.index("counterfactual estimate first") < printed.index("interleaving by clicks") \
        < printed.index("favour the ranking that produced the clicks") < printed.index("[all]")
    assert "oracle" not in printed
    text = (tmp_path / "r" / "report.md").read_text()
    assert text.index("### Counterfactual estimate") < text.index("### Interleaving plan") \
        < text.index(CLICK_BIAS) < text.index("## all")
    assert "| orders |" in text and 'mode = "interleave"' in text
    assert "vs true" not in text and "| ndcg@10 |" not in text and "| mrr |" in text
    shown = _plots_are_drawn(tmp_path / "r" / "report.md")
    assert MRR_PLOT in shown and POSITION_BIAS_PLOT in shown and NDCG_PLOT not in shown
    assert not (tmp_path / "r" / NDCG_PLOT).exists()
    metrics = json.loads((tmp_path / "m.json").read_text())["without_truth"]
    assert metrics["counterfactual"]["requests"] > 0 and metrics["counterfactual_missing"] is None
    plan = metrics["interleaving_plan"]
    assert 0 < plan["deciding_share"]["orders"] < plan["deciding_share"]["clicks"] <= 1
    assert plan["pages_needed"]["clicks"]["0.55"] > plan["pages_needed"]["clicks"]["0.60"]


def test_pages_never_randomised_say_why_there_is_no_estimate_or_curve(untrue_mall, tmp_path: Path) -> None:
    mall, bundle = untrue_mall
    flat = tmp_path / "flat"
    shutil.copytree(mall, flat)
    imp = read_table(flat, "impressions")
    write_table(flat, "impressions", imp.set_column(imp.schema.get_field_index("propensity"), "propensity",
                                                    pa.array([1.0] * imp.num_rows)))
    out = runner.invoke(app, [*FAST, "evaluate", str(bundle), "--data", str(flat), "--report",
                              str(tmp_path / "r"), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert out.output.index(NOT_RANDOMISED) < out.output.index("[all]")
    text = (tmp_path / "r" / "report.md").read_text()
    assert text.index(NOT_RANDOMISED) < text.index("### Interleaving plan") < text.index("## all")
    assert "No curve: no impression has propensity < 1" in text
    shown = _plots_are_drawn(tmp_path / "r" / "report.md")
    assert POSITION_BIAS_PLOT not in shown and not (tmp_path / "r" / POSITION_BIAS_PLOT).exists()


def test_sign_test_pages_follow_the_one_sample_proportion_formula() -> None:
    # ((1.96 * 0.5 + 0.8416 * sqrt(0.6 * 0.4)) / 0.1) ** 2 = 193.9 deciding pages
    assert sign_test_pages(0.6, 1.0) == 194
    assert sign_test_pages(0.6, 0.5) == 388  # half the pages are ties
    assert sign_test_pages(0.6, 0.0) is None and sign_test_pages(0.5, 1.0) is None


def test_the_report_draws_no_chart_without_data(tmp_path: Path) -> None:
    """Click metrics only: the ranker plot shows MRR and says it favours the logging policy; a
    ranker whose scores are all missing gets no histogram; no curve and no importance, no plot."""
    import numpy as np

    from training.evaluation.report import SCORES_PLOT, write_report

    rankers = {"model": {"mrr": 0.44, "map": 0.35}, "logging_policy": {"mrr": 0.61, "map": 0.48}}
    samples = {"model": np.linspace(0, 1, 500), "lexical": np.full(500, np.nan)}
    report = write_report(tmp_path, {"surfaces": {"all": rankers}}, None, None, None, samples,
                          lead=["## lead", ""], no_position_bias="nothing was randomised")
    text = report.read_text()
    assert text.startswith("# Offline evaluation report\n\n## lead")
    assert "MRR on logged clicks by ranker (favours the logging policy)" in text
    assert "No curve: nothing was randomised." in text
    assert sorted(_plots_are_drawn(report)) == sorted([MRR_PLOT, SCORES_PLOT])
    assert not (tmp_path / NDCG_PLOT).exists() and not (tmp_path / POSITION_BIAS_PLOT).exists()
    only_missing = write_report(tmp_path / "b", {"surfaces": {"all": rankers}}, None, None, None,
                                {"lexical": np.full(10, np.nan)})
    assert _plots_are_drawn(only_missing) == [MRR_PLOT]
