"""``shelfrank scores``: platform scores from raw events, and why a merchant has them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_file
from shelfrank.context import current_settings, fail, iso_time

scores_app = typer.Typer(help="Platform scores (store experience, product score, price advantage).",
                         invoke_without_command=True, no_args_is_help=False)


def register(app: typer.Typer) -> None:
    app.add_typer(scores_app, name="scores")


def _compute(data: Path, as_of: str | None):
    from ranking.contracts import ContractError
    from ranking.scores import compute_scores
    from ranking.scores.compute import ScoresDataError

    if not data.is_dir():
        raise typer.BadParameter(f"{data} is not a dataset folder", param_hint="--data")
    try:
        return compute_scores(data, iso_time(as_of, "--as-of"), current_settings().scores)
    except (ContractError, ScoresDataError) as exc:
        fail(str(exc))


@scores_app.callback()
def scores(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option("--data", help="dataset folder")] = None,
    as_of: Annotated[str | None, typer.Option(help="score as of this ISO date/time (UTC); "
                                                   "default just after the last event")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Parquet file for every store's and "
                                                           "product's scores")] = None,
) -> None:
    """Write every store's and product's scores with their dimensions to a Parquet file."""
    if ctx.invoked_subcommand:
        return
    if data is None or out is None:
        typer.echo(ctx.get_help())
        if data is not None or out is not None or as_of is not None:
            missing = " and ".join(o for o, v in (("--data", data), ("--out", out)) if v is None)
            fail(f"scores needs {missing} (or a subcommand)")
        raise typer.Exit(2)
    output_file(out, "--out")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ranking.scores.explain import window_summary

    started = time.perf_counter()
    result = _compute(data, as_of)
    frame = result.to_frame()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    tmp.replace(out)
    s, p = result.stores, result.products
    typer.echo(f"{len(s):,} stores (experience score median {s.store_experience_score.median():.1f}, "
               f"{int(s.demoted.sum())} demoted), {len(p):,} products (grades "
               + ", ".join(f"{g} {n}" for g, n in p.product_grade.value_counts().sort_index().items())
               + f"; {int(p.banned.sum())} banned, {int(p.demoted.sum())} demoted)")
    window, warning = window_summary(result, current_settings().scores.window_days)
    typer.echo(window)
    if warning:
        typer.echo(warning, err=True)
    typer.echo(f"wrote {out} in {time.perf_counter() - started:.1f}s")


@scores_app.command("explain")
def explain(
    data: Annotated[Path | None, typer.Option("--data", help="dataset folder (scores computed from "
                                                             "it); without it: the bundle's scores")] = None,
    store: Annotated[int | None, typer.Option(help="a store id")] = None,
    product: Annotated[int | None, typer.Option(help="a product id")] = None,
    creator: Annotated[int | None, typer.Option(help="a creator id (带货口碑分)")] = None,
    as_of: Annotated[str | None, typer.Option(help="as of this ISO date/time (UTC)")] = None,
    events: Annotated[Path | None, typer.Option(help="an event log folder (serving.events_dir): add the "
                                                     "store's traffic report from its exposures")] = None,
    bundle: Annotated[Path | None, typer.Option(help="bundle whose scores the traffic report reads "
                                                     "without --data (default serving.bundle)")] = None,
) -> None:
    """Print a store's, product's or creator's score, each dimension and the event counts behind it; with
    --events a store's traffic: exposure share against its category, grade mix, the traffic
    policy's rules on its cards, and what would raise it (docs/scores.md)."""
    from ranking.scores.explain import Names, explain_creator, explain_product, explain_store, load_names

    if sum(x is not None for x in (store, product, creator)) != 1:
        raise typer.BadParameter("give exactly one of --store, --product or --creator")
    if data is None and (events is None or store is None):
        raise typer.BadParameter("give --data (or --store with --events to read a bundle's scores)")
    result = _compute(data, as_of) if data is not None else None
    try:
        if result is not None:
            names = load_names(data) if data is not None else Names()
            k = current_settings().scores.prior_strength
            typer.echo(explain_store(result, store, names, k) if store is not None
                       else explain_product(result, product, names, k) if product is not None
                       else explain_creator(result, creator))
        if events is not None and store is not None:
            typer.echo(_traffic_report(store, events, data, result, bundle, as_of))
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from exc


def _traffic_report(store: int, events: Path, data: Path | None, result, bundle: Path | None,
                    as_of: str | None) -> str:
    """The merchant traffic report of ``store`` (ranking.merchant_traffic), printed."""
    from ranking.merchant_traffic import format_report, read_exposures, store_traffic

    if not events.is_dir():
        raise typer.BadParameter(f"{events} is not an event log folder", param_hint="--events")
    settings = current_settings()
    tables = _traffic_tables(data, result, bundle or Path(settings.serving.bundle))
    moment = iso_time(as_of, "--as-of")
    as_of_ms = int(moment.timestamp() * 1000) if moment is not None else None
    report = store_traffic(tables, read_exposures(str(events)), store, settings.rules, settings.scores,
                           as_of_ms)
    return format_report(report)


def _traffic_tables(data: Path | None, result, bundle: Path):
    from ranking.merchant_traffic import tables_from_scores, tables_from_snapshot

    if result is not None:
        import pandas as pd

        catalog = pd.read_parquet(data / "products.parquet", columns=["product_id", "subsidy"])
        return tables_from_scores(result.stores, result.products,
                                  catalog.set_index("product_id").subsidy.astype(bool))
    from ranking.bundle import BundleError, load_bundle

    try:
        return tables_from_snapshot(load_bundle(bundle).snapshot)
    except BundleError as exc:
        fail(str(exc))


@scores_app.command("policy")
def policy() -> None:
    """Print the traffic policy in force (what each grade and store score earns or loses), the
    table docs/scores.md publishes for the default settings."""
    from ranking.pipeline.traffic_policy_text import policy_table

    settings = current_settings()
    typer.echo(policy_table(settings.rules, settings.scores))


@scores_app.command("olist")
def olist(
    csv: Annotated[Path, typer.Option("--csv", help="olist_classified_public_dataset.csv")] = Path(
        "../shared/datasets/olist/olist_classified_public_dataset.csv"),
) -> None:
    """Real data: delivery lateness (as the logistics dimension counts it) vs review scores."""
    import json

    from training.real_data.olist import olist_lateness_vs_reviews

    if not csv.is_file():
        raise typer.BadParameter(f"{csv} not found" if not csv.exists() else f"{csv} is not a file",
                                 param_hint="--csv")
    try:
        result = olist_lateness_vs_reviews(csv)
    except (ValueError, OSError) as exc:  # pandas' parser errors are ValueErrors
        fail(f"{csv}: {exc}" if str(csv) not in str(exc) else str(exc))
    typer.echo(json.dumps(result, indent=2))
