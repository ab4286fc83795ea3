"""``shelfrank cold-start report|hold-out|week``: the new products and their stages as the bandit
sees them, a simulated mall with some new stores' products held back to arrive later, and the
simulated week that measures what cold start earns and costs (docs/cold_start.md). The use cases
are ``ranking.cold_start.report`` and ``training.experiments.cold_start_arrivals`` /
``cold_start_week``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_file
from shelfrank.context import current_overrides, current_settings, fail, iso_time_ms

cold_start_app = typer.Typer(help="Cold start for new products: report and simulated week.",
                             no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cold_start_app, name="cold-start")


@cold_start_app.command("report")
def report_command(
    bundle: Annotated[Path, typer.Option("--bundle", help="the bundle (models/latest)")],
    at: Annotated[str | None, typer.Option("--at", help="as of this ISO time (UTC when naive); default "
                                                        "the bundle's snapshot")] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="products printed (0: only the stages)")] = 20,
    json_out: Annotated[Path | None, typer.Option("--json", help="write every new product here")] = None,
) -> None:
    """Every new product with its impressions, clicks, orders, posterior and stage (the bundle's
    counts: a running service adds its live last day to the same view)."""
    from ranking.bundle import BundleError, load_bundle
    from ranking.cold_start.report import cold_start_report

    output_file(json_out, "--json")
    try:
        snapshot = load_bundle(bundle).snapshot
    except BundleError as exc:
        fail(str(exc))
    at_ms = iso_time_ms(at, "--at")
    report = cold_start_report(snapshot, snapshot.as_of_ms if at_ms is None else at_ms,
                               current_settings().cold_start)
    typer.echo(f"{len(report['products']):,} new products: "
               + ", ".join(f"{n:,} {s}" for s, n in report["stages"].items()))
    typer.echo(f"{'product':>8} {'store':>6} {'leaf':>6} {'impr':>7} {'clicks':>6} {'orders':>6} "
               f"{'order rate':>10} {'leaf rate':>9} {'P(below)':>8}  stage")
    for p in report["products"][:limit]:
        typer.echo(f"{p['product_id']:>8} {p['store_id']:>6} {p['category_id']:>6} {p['impressions']:>7.0f} "
                   f"{p['clicks']:>6.0f} {p['orders']:>6.0f} {p['order_rate_mean']:>10.2%} "
                   f"{p['leaf_order_rate']:>9.2%} {p['p_below_leaf']:>8.2f}  {p['stage']}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=1))


@cold_start_app.command("week")
def week_command(
    data: Annotated[Path, typer.Option("--data", help="a simulated mall (needs its truth/ folder)")],
    bundle: Annotated[Path, typer.Option("--bundle", help="the bundle both arms serve")],
    sessions: Annotated[int, typer.Option("--sessions", min=10, help="sessions per arm")] = 2000,
    days: Annotated[int, typer.Option("--days", min=1, help="days the sessions span")] = 7,
    seed: Annotated[int, typer.Option(min=0, help="the shoppers' seed (the same in both arms)")] = 7,
    arrivals: Annotated[Path | None, typer.Option(
        "--arrivals", help="products rows (Parquet, shelfrank cold-start hold-out's arrivals.parquet) "
                           "listed through the live catalog path during the week")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
) -> None:
    """A simulated week of homepage sessions with cold start off, then on (the same shoppers):
    the new products' share of orders and what it costs in orders and GMV."""
    from ranking.bundle import BundleError, verify_bundle
    from training.experiments.cold_start_week import run_cold_start_week

    if not (data / "truth").is_dir():
        fail(f"{data}: not a simulated mall (no truth/ folder)")
    try:
        verify_bundle(bundle)
    except BundleError as exc:
        fail(str(exc))
    output_file(json_out, "--json")
    import pandas as pd

    if arrivals is not None and not arrivals.is_file():
        fail(f"{arrivals}: no such file (--arrivals)")
    rows = pd.read_parquet(arrivals) if arrivals is not None else None
    base = current_overrides()
    result = run_cold_start_week(data, bundle.resolve(), {"off": [*base, "cold_start.enabled=false"],
                                                          "on": [*base, "cold_start.enabled=true"]},
                                 sessions, days, seed, arrivals=rows)
    text = json.dumps(result, indent=2)
    typer.echo(text)
    c, t = result["arms"]["off"], result["arms"]["on"]
    cmp = result["comparison"]
    typer.echo(f"\nnew products' share of orders: {c['new_share_of_orders']['value']:.1%} off, "
               f"{t['new_share_of_orders']['value']:.1%} on "
               f"({cmp['new_share_of_orders']['difference']:+.1%}); "
               f"GMV {c['gmv']:,.0f} -> {t['gmv']:,.0f} ({cmp['gmv_per_session']['relative']:+.1%}), orders "
               f"{c['orders']:,} -> {t['orders']:,} over {result['sessions']:,} sessions per arm")
    if rows is not None:
        came = (c["arrived_share_of_orders"]["value"], t["arrived_share_of_orders"]["value"])
        typer.echo(f"{len(rows):,} products listed during the week: their share of orders "
                   f"{came[0]:.1%} off, {came[1]:.1%} on")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text)


@cold_start_app.command("hold-out")
def hold_out_command(
    data: Annotated[Path, typer.Option("--data", help="a simulated mall")],
    out: Annotated[Path, typer.Option("--out", help="folder for the mall without the held-out products")],
    share: Annotated[float, typer.Option("--share", min=0.0, max=1.0, help="share of the new stores whose "
                                                                         "products are held out")] = 0.5,
    seed: Annotated[int, typer.Option(min=0, help="which new stores are drawn")] = 7,
) -> None:
    """Copy a simulated mall without some new stores' products and their events; the held-out
    products go to OUT/arrivals.parquet, for ``cold-start week --arrivals``."""
    from training.experiments.cold_start_arrivals import ARRIVALS, hold_out_mall

    if not (data / "products.parquet").is_file():
        fail(f"{data}: not a dataset folder (no products.parquet)")
    if out.resolve() == data.resolve():
        fail("--out must be another folder than --data")
    rows = hold_out_mall(data, out, share, seed)
    typer.echo(f"held out {len(rows):,} products of {rows.store_id.nunique():,} new stores: {out / ARRIVALS}")
