"""The offline evaluation report: ``report.md`` with its PNG plots.

``write_report`` renders what ``shelfrank evaluate`` measured: tables of NDCG@5/10/20,
MRR and MAP per surface and ranker, the model's fraction of the oracle's NDCG@10, and
four plots - NDCG@10 by ranker per surface, the top-25 features by gain, the position
bias curve estimated from the logged randomisation against the simulator's true one,
and the score distribution of each ranker. Figures are drawn on
``matplotlib.figure.Figure`` objects (Agg canvas, no pyplot state, no display needed).

On data without truth (a real mall) the report leads with ``lead`` (the counterfactual
estimate, the interleaving plan and the click-metric bias: training.evaluation.no_truth),
the ranker plot shows MRR on logged clicks (there is no NDCG on true gains to draw), the
position-bias plot has no true curve and says so in its title, and no plot is drawn
without data (no randomisation: no position-bias plot, with the reason in its place).

On data without truth (a real mall) the report leads with ``lead`` (the counterfactual
estimate, the interleaving plan and the click-metric bias: training.evaluation.no_truth),
the ranker plot shows MRR on logged clicks (there is no NDCG on true gains to draw), the
position-bias plot has no true curve and says so in its title, and no plot is drawn
without data (no randomisation: no position-bias plot, with the reason in its place).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.surfaces import SURFACES

NDCG_PLOT = "ndcg_by_model.png"
MRR_PLOT = "mrr_on_logged_clicks.png"
IMPORTANCE_PLOT = "feature_importance.png"
POSITION_BIAS_PLOT = "position_bias.png"
SCORES_PLOT = "score_distributions.png"
TOP_FEATURES = 25
METRIC_ORDER = ("ndcg@5", "ndcg@10", "ndcg@20", "mrr", "map", "logged_ndcg@10")
SURFACE_ORDER = ("all", *SURFACES)
RANKER_ORDER = ("oracle", "model", "logging_policy", "popularity", "product_score", "lexical", "random")


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _ordered(names, preferred) -> list:
    names = list(names)
    return [n for n in preferred if n in names] + [n for n in names if n not in preferred]


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return "n/a" if math.isnan(value) else f"{float(value):.4f}"
    return str(value)


def _surfaces(metrics: Mapping) -> dict[str, dict[str, dict[str, float]]]:
    surfaces = metrics.get("surfaces")
    if not isinstance(surfaces, Mapping) or not surfaces:
        raise ValueError("metrics['surfaces'] must map surface -> ranker -> metric -> value")
    for surface, rankers in surfaces.items():
        if not isinstance(rankers, Mapping) or not all(isinstance(m, Mapping) for m in rankers.values()):
            raise ValueError(f"metrics['surfaces'][{surface!r}] must map ranker -> metric -> value")
    return {s: surfaces[s] for s in _ordered(surfaces, SURFACE_ORDER)}


def _metric_table(rankers: Mapping[str, Mapping[str, float]]) -> str:
    names = _ordered({m for r in rankers.values() for m in r}, METRIC_ORDER)
    lines = ["| ranker | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for ranker in _ordered(rankers, RANKER_ORDER):
        row = rankers[ranker]
        lines.append(f"| {ranker} | " + " | ".join(_fmt(row.get(n, float("nan"))) for n in names) + " |")
    return "\n".join(lines)


def plot_ndcg_by_model(surfaces: Mapping, path: Path, metric: str = "ndcg@10",
                       title: str | None = None) -> Path:
    """Grouped bars: one group per surface, one bar per ranker."""
    rankers = _ordered({r for rs in surfaces.values() for r in rs}, RANKER_ORDER)
    names = list(surfaces)
    fig = _figure(max(6.0, 1.6 * len(names) + 2), 4.2)
    ax = fig.add_subplot()
    width = 0.8 / max(len(rankers), 1)
    colours = {r: f"C{i}" for i, r in enumerate(rankers)}
    for i, ranker in enumerate(rankers):
        values = [surfaces[s].get(ranker, {}).get(metric, np.nan) for s in names]
        x = np.arange(len(names)) + (i - (len(rankers) - 1) / 2) * width
        ax.bar(x, values, width=width, label=ranker, color=colours[ranker])
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel(metric.upper().replace("NDCG", "NDCG"))
    ax.set_ylim(0, 1.05)
    ax.set_title(title or f"{metric} by ranker and surface")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, len(rankers)), loc="upper center", bbox_to_anchor=(0.5, -0.08))
    fig.savefig(path)
    return path


def plot_feature_importance(importance: pd.DataFrame, path: Path, top: int = TOP_FEATURES) -> Path:
    """Horizontal bars of the top features by total split gain, coloured by feature group."""
    for col in ("feature", "gain"):
        if col not in importance:
            raise ValueError(f"feature_importance needs a {col!r} column")
    rows = importance.sort_values("gain", ascending=False).head(top).iloc[::-1]
    fig = _figure(7.5, max(3.0, 0.28 * len(rows) + 1.2))
    ax = fig.add_subplot()
    if "group" in rows:
        groups = rows["group"].fillna("other").astype(str)
    else:
        groups = pd.Series("feature", index=rows.index)
    palette = {g: f"C{i}" for i, g in enumerate(dict.fromkeys(groups.iloc[::-1]))}
    ax.barh(rows["feature"].astype(str), rows["gain"], color=[palette[g] for g in groups])
    if len(palette) > 1:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=c, label=g) for g, c in palette.items()], fontsize=8,
                  loc="lower right")
    ax.set_xlabel("total gain of splits on the feature")
    ax.set_title(f"Feature importance (top {len(rows)} by gain)")
    ax.tick_params(axis="y", labelsize=8)
    fig.savefig(path)
    return path


def plot_position_bias(estimated: pd.DataFrame, true: pd.DataFrame | None, path: Path) -> Path:
    """Estimated examination by slot (95% band; dashed = extrapolated) vs the true curve."""
    est = estimated if "surface" in estimated else estimated.assign(surface="all")
    names = _ordered(est["surface"].unique(), SURFACE_ORDER)
    fig = _figure(4.0 * len(names), 3.6)
    axes = fig.subplots(1, len(names), squeeze=False, sharey=True)[0]
    for ax, name in zip(axes, names, strict=True):
        curve = est[est["surface"] == name].sort_values("position")
        measured = curve[curve.get("method", "randomised") != "power_law_extrapolation"]
        extra = curve[curve.get("method", "randomised") == "power_law_extrapolation"]
        ax.plot(measured.position, measured.examination, "o-", color="C0", label="estimated")
        if {"ci_low", "ci_high"} <= set(curve.columns):
            ax.fill_between(measured.position, measured.ci_low, measured.ci_high, color="C0", alpha=0.2,
                            label="95% interval")
        if len(extra):
            joined = pd.concat([measured.tail(1), extra])
            ax.plot(joined.position, joined.examination, "--", color="C0", label="extrapolated")
        if true is not None and name in set(true["surface"]):
            t = true[true["surface"] == name].sort_values("position")
            t = t[t.position <= curve.position.max()]
            ax.plot(t.position, t.examination, "s:", color="C3", markersize=3, label="true (simulator)")
        ax.set_title(name)
        ax.set_xlabel("slot")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(0, 1.15)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("examination relative to slot 1")
    handles: dict = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    axes[-1].legend(handles.values(), handles.keys(), fontsize=8)
    fig.suptitle("Position bias: estimated from randomised requests"
                 + (" vs true (simulator)" if true is not None and len(true) else ""))
    fig.savefig(path)
    return path


def plot_score_distributions(samples: Mapping[str, np.ndarray], path: Path, bins: int = 50) -> Path:
    """One histogram per ranker of its scores on a sample of cards (scales differ)."""
    names = [n for n in _ordered(samples, RANKER_ORDER) if np.isfinite(np.asarray(samples[n], float)).any()]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _figure(4.0 * cols, 2.8 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        values = np.asarray(samples[name], dtype=np.float64)
        values = values[np.isfinite(values)]
        ax.hist(values, bins=bins, color="C0" if name == "model" else "C7")
        ax.set_title(f"{name} (n={len(values):,})", fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle("Score distributions on sampled cards")
    fig.savefig(path)
    return path


def write_report(out_dir: str | Path, metrics: dict, feature_importance: pd.DataFrame,
                 position_bias: pd.DataFrame | None, true_position_bias: pd.DataFrame | None,
                 score_samples: dict[str, np.ndarray], lead: list[str] | None = None,
                 no_position_bias: str | None = None) -> Path:
    """Write ``out_dir/report.md`` and its PNG plots; return the report's path.

    ``metrics``: ``{"surfaces": {surface: {ranker: {"ndcg@10": x, ...}}},
    "fraction_of_oracle_ndcg@10": x, ...}``; other scalar entries are listed as run facts.
    ``lead``: markdown lines put first (the no-truth summary); ``no_position_bias``: why
    there is no position-bias curve, said in its place.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    surfaces = _surfaces(metrics)
    truth = any("ndcg@10" in m for rankers in surfaces.values() for m in rankers.values())
    lines = ["# Offline evaluation report", "", *(lead or [])]
    fraction = metrics.get("fraction_of_oracle_ndcg@10")
    if fraction is not None:
        lines += [f"**Model NDCG@10 as a fraction of the oracle's: {_fmt(fraction)}**", ""]
    facts = {k: v for k, v in metrics.items()
             if k not in ("surfaces", "fraction_of_oracle_ndcg@10") and not isinstance(v, Mapping)}
    if facts:
        lines += ["| fact | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in facts.items()]
        lines.append("")
    lines += [
        "NDCG@k uses the oracle gain (the true purchase probability of a card once examined) where "
        "the data has a truth; MRR and MAP count logged clicks as relevant. Requests without any "
        "positive gain are skipped in the means." if truth else
        "No truth: MRR, MAP and logged NDCG@10 count logged clicks as relevant, so they favour the "
        "logging policy (see above). Requests without any click are skipped in the means.",
        "",
    ]
    for surface, rankers in surfaces.items():
        lines += [f"## {surface}", "", _metric_table(rankers), ""]
    plots = _plots(out, surfaces, truth, feature_importance, position_bias, true_position_bias, score_samples)
    lines += ["## Plots", ""]
    for title, path in plots:
        lines += [f"### {title}", "", f"![{title}]({path.name})", ""]
    if position_bias is not None and len(position_bias):
        lines += ["### Position bias (estimated)", "", _position_bias_table(position_bias), ""]
    elif no_position_bias:
        lines += ["### Position bias", "", f"No curve: {no_position_bias}.", ""]
    report = out / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


def _plots(out: Path, surfaces: Mapping, truth: bool, feature_importance: pd.DataFrame | None,
           position_bias: pd.DataFrame | None, true_position_bias: pd.DataFrame | None,
           score_samples: dict[str, np.ndarray]) -> list[tuple[str, Path]]:
    """Every plot that has data to draw, with the title it goes under."""
    if truth:
        plots = [("NDCG@10 (true purchase probability) by ranker",
                  plot_ndcg_by_model(surfaces, out / NDCG_PLOT))]
    else:
        title = "MRR on logged clicks by ranker (favours the logging policy)"
        plots = [(title, plot_ndcg_by_model(surfaces, out / MRR_PLOT, "mrr", title))]
    if feature_importance is not None and len(feature_importance):
        plots.append(("Feature importance",
                      plot_feature_importance(feature_importance, out / IMPORTANCE_PLOT)))
    if position_bias is not None and len(position_bias):
        has_true = true_position_bias is not None and len(true_position_bias)
        plots.append(("Position bias: estimated" + (" vs true (simulator)" if has_true else ""),
                      plot_position_bias(position_bias, true_position_bias, out / POSITION_BIAS_PLOT)))
    if any(np.isfinite(np.asarray(v, float)).any() for v in score_samples.values()):
        plots.append(("Score distributions", plot_score_distributions(score_samples, out / SCORES_PLOT)))
    return plots


def _position_bias_table(curve: pd.DataFrame) -> str:
    est = curve if "surface" in curve else curve.assign(surface="all")
    wide = est.pivot_table(index="position", columns="surface", values="examination", sort=True)
    names = _ordered(wide.columns, SURFACE_ORDER)
    lines = ["| slot | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for pos, row in wide[names].iterrows():
        lines.append(f"| {pos} | " + " | ".join(_fmt(float(v)) for v in row) + " |")
    return "\n".join(lines)
