"""``shelfrank train`` and ``shelfrank evaluate``: ranking bundles (the purchase funnel by default,
LambdaRank on request, ``training.model``) and their offline report; the work is in
``training/learning/`` and ``training/evaluation/``, this module parses and prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ranking.surfaces import SURFACES
from shelfrank.commands.paths import output_dir, output_file
from shelfrank.context import current_settings, fail


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)


def train(
    data: Annotated[Path, typer.Option("--data", help="mall dataset folder (shelfrank simulate)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="models folder; the bundle goes to OUT/<version> "
                                                "(default paths.models_dir: models)")
    ] = None,
    position_debias: Annotated[
        bool | None, typer.Option(help="correct for position bias: lambdarank, LightGBM's position-aware "
                                          "LambdaRank; funnel, the click stage's examination offset "
                                          "(settings training.position_debias)")
    ] = None,
    dask_scheduler: Annotated[
        str | None, typer.Option(
            help="build features (one task per snapshot cut) and train LightGBM's DaskLGBMRanker "
                 "on this Dask scheduler; every worker must see --data at the same path")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Build point-in-time features, train the ranker (training.model), write a bundle, move OUT/latest."""
    from ranking.contracts import ContractError
    from training.dask.features import DaskClusterError, check_workers_see, connect
    from training.learning.dataset import TrainingDataError
    from training.learning.train import train_bundle

    settings = current_settings()
    out = out if out is not None else Path(settings.paths.models_dir)
    if position_debias is not None:
        settings.training.position_debias = position_debias
    if dask_scheduler:
        settings.training.dask_scheduler = dask_scheduler
    if not data.is_dir():
        fail(f"{data} is not a dataset folder")
    output_dir(out, "--out")
    try:
        if settings.training.dask_scheduler:  # fail before loading anything
            client = connect(settings.training.dask_scheduler)
            try:
                check_workers_see(client, data.resolve())
            finally:
                client.close()
        path, manifest = train_bundle(data, out, settings, progress=progress)
    except (DaskClusterError, ContractError, TrainingDataError) as exc:
        fail(str(exc))
    t = manifest["training"]
    if t["model"] == "funnel":
        stages = ", ".join(f"{name} {st['best_iteration']}" for name, st in t["stages"].items())
        typer.echo(f"bundle {path} (funnel: {t['num_trees']} trees; {stages})")
    else:
        typer.echo(f"bundle {path} ({t['num_trees']} trees, best iteration {t['best_iteration']})")
    typer.echo(f"validation: {json.dumps(t['valid_ndcg'])}")
    unseen = [name for name, n in manifest["data"].get("train_cards_by_surface", {}).items() if n == 0]
    if unseen:
        typer.echo(f"warning: the training days logged no {' or '.join(unseen)} cards: the model never "
                   "learnt from those requests, though the bundle will rank them", err=True)
    typer.echo(f"features {t['feature_seconds']}s ({t['rows_per_second_features']:,} cards/s), "
               f"training {t['train_seconds']}s; {out / 'latest'} -> {path.name}")


def evaluate(
    bundle: Annotated[Path, typer.Argument(help="bundle folder, e.g. models/latest")],
    data: Annotated[Path, typer.Option("--data", help="the mall the bundle was trained on")],
    report: Annotated[
        Path | None, typer.Option(help="folder for report.md and plots (default reports/<version>)")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the metrics as JSON")] = None,
    debias_study: Annotated[
        bool, typer.Option(help="also train with and without position debiasing and compare them "
                                "against the oracle (two extra training runs)")
    ] = False,
    counterfactual: Annotated[
        bool, typer.Option(help="also estimate the bundle's homepage clicks, orders and GMV per request "
                                "from the mall's logs: whole-page doubly robust, and IPS/SNIPS over the "
                                "logging policy's randomised slots")
    ] = False,
    counterfactual_control: Annotated[
        Path | None, typer.Option(help="with --counterfactual: also estimate this bundle and the lift "
                                       "of BUNDLE over it (what an A/B test between them would see)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """NDCG@5/10/20, MRR, MAP per surface for the model, the baselines and the oracle; on data without
    simulator truth, the counterfactual estimate and an interleaving plan first."""
    from ranking.bundle import BundleError
    from ranking.contracts import ContractError
    from training.evaluation.bundle_report import write_evaluation_report
    from training.evaluation.evaluate import evaluate_bundle
    from training.learning.dataset import TrainingDataError

    settings = current_settings()
    if counterfactual_control is not None and not counterfactual:
        raise typer.BadParameter("needs --counterfactual", param_hint="--counterfactual-control")
    output_dir(report, "--report")
    output_file(json_out, "--json")
    try:
        result = evaluate_bundle(bundle, data, settings, progress=progress)
    except (BundleError, ContractError, TrainingDataError) as exc:
        fail(str(exc))
    public = dict(result.metrics)
    if result.oracle_gain is None:
        public["without_truth"] = _without_truth(result, data)
    _print_table(public)
    absent = [name for name in SURFACES if name not in public["surfaces"]]
    if absent:
        typer.echo(f"\nno {' or '.join(absent)} requests on the test days {public['test_days']}: "
                   "no table for them")
    if debias_study:
        public["debias_study"] = _debias_study(bundle, data, settings, result, progress)
    if counterfactual:
        public["counterfactual"] = _counterfactual(bundle, counterfactual_control, data, settings, result,
                                                   progress)
    extra = {"debias_study": public["debias_study"]} if debias_study else None
    path = write_evaluation_report(report or Path("reports") / public["bundle"], result, bundle, data, extra,
                                   no_truth=public.get("without_truth"))
    typer.echo(f"report: {path}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(public, indent=2))
        typer.echo(f"metrics: {json_out}")


def _debias_study(bundle: Path, data: Path, settings, result, progress: bool) -> dict:
    """Oracle NDCG@10 with and without position debiasing (two extra trainings), printed."""
    from training.evaluation.debias_study import bundle_debias_study
    from training.learning.dataset import TrainingDataError

    if result.oracle_gain is None:
        raise typer.BadParameter("the debias study needs a simulated mall (DIR/truth)", param_hint="--data")
    try:
        study = bundle_debias_study(bundle, data, settings, result.frame, result.oracle_gain, progress)
    except TrainingDataError as exc:
        fail(str(exc))
    typer.echo("\nposition debiasing (oracle NDCG@10 on the test days): "
               + json.dumps({k: round(v, 4) for k, v in study.items()}))
    return study


def _counterfactual(bundle: Path, control: Path | None, data: Path, settings, result, progress: bool) -> dict:
    """Randomised-block IPS/SNIPS (all surfaces, homepage) and the whole-page estimate, printed."""
    from training.data.mall_data import load_mall
    from training.experiments.counterfactual import counterfactual_estimates

    orders = load_mall(data)["orders"]
    try:
        out = {name: counterfactual_estimates(result.frame, result.scores["model"], orders, surface)
               for name, surface in (("all", None), ("homepage", 1))}
    except ValueError as exc:
        fail(str(exc))
    typer.echo("\ncounterfactual (per request, randomised top slots of the logged pages):")
    for reward, r in out["all"]["rewards"].items():
        typer.echo(f"  {reward:<7} logging policy {r['logging_policy']:.4f}  IPS {r['ips']:.4f}  "
                   f"SNIPS {r['snips']:.4f}  estimated lift {r['estimated_lift']:+.1%}")
    out["whole_page"] = _whole_page(bundle, control, data, settings, progress)
    return out


def _without_truth(result, data: Path) -> dict:
    """On data without simulator truth, print first what decides (training.evaluation.no_truth)."""
    from training.data.mall_data import load_mall
    from training.evaluation.no_truth import no_truth_summary

    summary = no_truth_summary(result, load_mall(data)["orders"])
    estimate = summary["counterfactual"]
    if estimate:
        typer.echo(f"no simulator truth: counterfactual estimate first ({estimate['requests']:,} randomised "
                   "pages, per page):")
        for reward, r in estimate["rewards"].items():
            typer.echo(f"  {reward:<7} logging policy {r['logging_policy']:.4f}  "
                       f"model SNIPS {r['snips']:.4f}  "
                       f"estimated lift {r['estimated_lift']:+.1%}")
    else:
        typer.echo(f"no simulator truth; {summary['counterfactual_missing']}")
    plan = summary["interleaving_plan"]
    for credit, needed in plan["pages_needed"].items():
        cells = ", ".join(f"{n:,} at a {p} win rate" for p, n in needed.items() if n is not None)
        typer.echo(f"interleaving by {credit}: {plan['deciding_share'][credit]:.1%} of pages decide; "
                   f"{cells or 'no page decides'} (pages needed, 80% power)")
    typer.echo(f"\n{summary['click_metric_bias']}")
    return summary


def _whole_page(bundle: Path, control: Path | None, data: Path, settings, progress: bool) -> dict:
    """Whole-page DR estimate of the bundle's homepage (and the control's), printed and returned."""
    from training.experiments.whole_page import estimate_bundles

    bundles = {"model": bundle} | ({"control": control} if control is not None else {})
    try:
        est = estimate_bundles(bundles, data, settings, progress=progress,
                               compare=("model", "control") if control is not None else None)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"\nwhole-page doubly robust, homepage per request ({est['contexts']} logged contexts, "
               f"20 cards; 'logged' = the logging policy's own pages on them):")
    for reward in ("clicks", "orders", "order_value", "gmv"):
        lp = est["logging_policy"][reward]["value"]
        line = f"  {reward:<11} logged {lp:10.4f}"
        for name in bundles:
            r, lift = est[name]["rewards"][reward], est[name]["lift_over_logging_policy"][reward]
            line += (f"  {name} DR {r['dr']:10.4f} ({lift['lift']:+.1%} "
                     f"[{lift['ci95'][0]:+.1%}, {lift['ci95'][1]:+.1%}])")
        if control is not None:
            c = est["comparison"]["rewards"][reward]
            line += f"  model vs control {c['lift']:+.1%} [{c['ci95'][0]:+.1%}, {c['ci95'][1]:+.1%}]"
        typer.echo(line)
    return est


def _print_table(result: dict) -> None:
    for surface, table in result["surfaces"].items():
        cols = list(next(iter(table.values())))
        typer.echo(f"\n[{surface}]  " + "  ".join(f"{c:>14}" for c in cols))
        for name, row in table.items():
            typer.echo(f"{name:>16}  " + "  ".join(f"{row[c]:>14.4f}" for c in cols))
    if "fraction_of_oracle_ndcg@10" in result:
        typer.echo(f"\nfraction of oracle NDCG@10: {result['fraction_of_oracle_ndcg@10']:.4f}")
