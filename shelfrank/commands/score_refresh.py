"""``shelfrank scores refresh``: a bundle with today's scores and profiles, the model kept.

A subcommand of ``shelfrank scores`` because it is the scores' daily cadence (scores as of a
moment, as ``shelfrank scores`` computes them, put where the service reads them), not a
training run; the work is :func:`training.learning.refresh.refresh_bundle`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfrank.commands.paths import output_dir
from shelfrank.commands.scores import scores_app
from shelfrank.context import current_settings, fail, iso_time_ms


def register(app: typer.Typer) -> None:
    scores_app.command("refresh")(refresh)


def refresh(
    bundle: Annotated[Path, typer.Option("--bundle", help="the bundle to refresh, e.g. models/latest")],
    data: Annotated[Path, typer.Option("--data", help="the mall's dataset folder, with the events "
                                                      "since the bundle's cut")],
    as_of: Annotated[str | None, typer.Option(
        help="scores and profiles as of this ISO date/time (UTC when naive); default the end of "
             "the data's last logged day, the moment training cuts its snapshot at")] = None,
    events: Annotated[Path | None, typer.Option(
        "--events", help="merge this event log of the service into the data first "
                         "(as shelfrank merge-events does; the data folder is not modified)")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="models folder for the new version (default the folder holding --bundle)")] = None,
    latest: Annotated[bool, typer.Option(help="point OUT/latest at the new version")] = True,
) -> None:
    """Keep the bundle's model, recall and catalog byte for byte; recompute its score and feature
    tables as of --as-of; write a new version (the service hot-swaps it on reload)."""
    from ranking.contracts import ContractError
    from training.learning.refresh import RefreshRefusedError, refresh_bundle

    if not bundle.is_dir():
        fail(f"{bundle} is not a bundle folder")
    if not data.is_dir():
        fail(f"{data} is not a dataset folder")
    if events is not None and not events.is_dir():
        fail(f"{events} is not an event log folder")
    out = out if out is not None else bundle.absolute().parent
    output_dir(out, "--out")
    try:
        result = refresh_bundle(bundle, data, out, current_settings(), iso_time_ms(as_of, "--as-of"), events,
                                move_latest=latest)
    except (RefreshRefusedError, ContractError, ValueError) as exc:  # a bad event line, a bundle
        fail(f"refused: {exc}" if isinstance(exc, RefreshRefusedError) else str(exc))
    r = result.manifest["refresh"]
    typer.echo(f"bundle {result.path} refreshed from {r['parent_version']} as of {r['as_of']} "
               f"(model of {r['model_version']}, sha256 {result.manifest['files']['model.txt'][:12]})")
    typer.echo(f"recomputed {', '.join(r['recomputed'])}: {result.changed_products:,} product scores "
               f"and {result.changed_stores:,} store scores moved; kept {len(r['kept'])} files "
               f"({r['kept_by']})")
    if "merged_events" in r:
        typer.echo("merged from --events: " + (", ".join(f"{n:,} {t}" for t, n in r["merged_events"].items())
                                              or "nothing new"))
        for finding in r["merge_findings"]:  # as shelfrank merge-events reports them
            typer.echo(f"warning: {finding}", err=True)
    typer.echo(f"in {result.seconds:.1f}s" + (f"; {out / 'latest'} -> {result.path.name}" if latest else ""))
