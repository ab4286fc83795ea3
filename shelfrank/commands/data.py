"""``shelfrank simulate`` and ``shelfrank validate``: make a mall, check a dataset folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_dir
from shelfrank.context import current_settings, fail


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
    app.command("validate")(validate)
    app.command("merge-events")(merge_events)


def simulate(
    out: Annotated[Path, typer.Option("--out", help="folder to write the mall's tables to")],
    scale: Annotated[
        str | None, typer.Option(help="small | default | large (settings simulator.scale)")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="random seed (settings simulator.seed)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Simulate a shelf-style mall: catalog, users, sessions, fulfilment, and its hidden truth.

    Observable tables go to OUT/*.parquet; the latent truth (never a feature) to OUT/truth/.
    """
    from training.simulator import simulate as run

    settings = current_settings()
    sim = settings.simulator
    if scale is not None:
        if scale not in ("small", "default", "large"):
            raise typer.BadParameter("must be small, default or large", param_hint="--scale")
        sim = sim.model_copy(update={"scale": scale})
    if seed is not None:
        sim = sim.model_copy(update={"seed": seed})
    output_dir(out, "--out")
    summary = run(out, sim, settings.mall, progress=progress)
    for table, rows in summary.rows.items():
        typer.echo(f"{table:>16}: {rows:>12,} rows")
    typer.echo(f"{summary.sessions:,} sessions of {summary.requests:,} requests "
               f"({summary.requests / max(summary.sessions, 1):.2f} pages per session)")
    typer.echo(f"wrote {out} in {summary.seconds:.1f}s (scale={sim.scale}, seed={sim.seed})")


def validate(
    data: Annotated[Path, typer.Argument(help="dataset folder (one <table>.parquet per table)")],
    references: Annotated[bool, typer.Option(help="also check foreign keys")] = True,
    consistency: Annotated[
        bool | None,
        typer.Option(help="also check the tables against each other: clicks against the cards shown, "
                          "order lines against the catalog, after-sale rows against their orders "
                          "(settings consistency.enabled; skip on a huge dataset in a hurry)"),
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar when it takes a while")] = True,
) -> None:
    """Check every table of a dataset folder against its contract and the tables against each
    other; exit 1 on any error (consistency warnings are printed and do not fail)."""
    from tqdm import tqdm

    from ranking.contracts import dataset_tables
    from ranking.contracts.io import check_dataset

    if not data.is_dir():
        fail(f"{data} is not a folder")
    limits = current_settings().consistency
    if consistency is not None:
        limits = limits.model_copy(update={"enabled": consistency})
    with tqdm(desc="validating", unit="step", disable=not progress, delay=limits.progress_after_seconds,
              leave=False) as bar:
        def advance(step: str, steps: int) -> None:
            bar.total = steps
            bar.set_postfix_str(step, refresh=False)
            bar.update(1)

        report = check_dataset(data, check_references=references, consistency=limits, progress=advance)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if report.errors:
        for problem in report.errors:
            typer.echo(f"error: {problem}", err=True)
        typer.echo(f"{data}: {len(report.errors)} problem(s)", err=True)
        raise typer.Exit(1)
    agree = " and agree with each other" if report.consistency_checked else ""
    warned = f" ({len(report.warnings)} warning(s))" if report.warnings else ""
    typer.echo(f"{data}: {len(dataset_tables(data))} tables meet their contracts{agree}{warned}")


def merge_events(
    data: Annotated[Path, typer.Option("--data", help="dataset folder to start from")],
    events: Annotated[Path, typer.Option("--events", help="the service's event log (serving.events_dir)")],
    out: Annotated[Path, typer.Option("--out", help="new dataset folder to write")],
    skip_bad: Annotated[bool, typer.Option(help="leave out log lines that cannot be read, listing each "
                                                "one, instead of stopping on them")] = False,
) -> None:
    """Append the service's logged impressions, clicks, carts and orders (and the text of the
    queries it searched) to a copy of a dataset; report per log file what it held, the merged
    events that break the consistency rules (lost cards as warnings, contradictions as errors)
    and traffic that looks fabricated (warnings). A bad log line stops it (exit 1, every
    file:line named) unless --skip-bad."""
    from ranking.event_reader import BadEventLinesError
    from training.data.event_import import merge_events as run

    output_dir(out, "--out")
    try:
        summary = run(data, events, out, current_settings().consistency, skip_bad=skip_bad)
    except BadEventLinesError as exc:
        fail(f"{exc}\nnothing was merged: fix or move those lines, or rerun with --skip-bad to leave "
             "them out")
    except (ValueError, OSError) as exc:
        fail(str(exc))
    for read in summary.files:
        typer.echo(f"read {read.describe()}")
    for bad in summary.skipped:
        typer.echo(f"skipped {bad}", err=True)
    for table, n in summary.appended.items():
        dropped = summary.duplicates[table]
        typer.echo(f"{table:>12}: +{n:,} rows ({dropped:,} already there or repeated, dropped)")
    if summary.catalog:
        c = summary.catalog
        typer.echo(f"     catalog: {c['changes']:,} changes folded: {c['products_changed']:,} products "
                   f"changed, {c['products_added']:,} added, {c['stores']:,} stores; product_changes: "
                   f"{c['history_rows']:,} rows")
    if summary.partial_lines:
        typer.echo(f"skipped {summary.partial_lines} torn (never acknowledged) last line(s)")
    for suspicion in summary.suspicions:
        typer.echo(f"warning: suspicious traffic: {suspicion.message}", err=True)
    if summary.queries_without_text:
        typer.echo(f"warning: {summary.queries_without_text:,} searched query id(s) of the impressions "
                   "have no text in queries (their exposures were not logged, or came from a log "
                   "older than the query text): training featurises those pages as empty searches",
                   err=True)
    for finding in summary.breaks:
        typer.echo(f"{finding.severity}: merged {finding.message()}", err=True)
    if any(f.severity == "error" for f in summary.breaks):
        typer.echo("the merged events contradict the dataset: `shelfrank validate` will name every row's "
                   "rule; fix the logging before training on it", err=True)
    typer.echo(f"wrote {out}; check it with `shelfrank validate {out}`")
