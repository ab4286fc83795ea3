"""``shelfrank catalog apply``: bulk catalog changes from a CSV or Parquet file (docs/catalog.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfrank.context import current_settings, fail

catalog_app = typer.Typer(help="The live catalog: product upserts, bans and stores.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")


@catalog_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="a .csv or .parquet file of changes", exists=True,
                                         dir_okay=False)],
    kind: Annotated[str, typer.Option("--kind", help="products | stores | bans")] = "products",
    url: Annotated[str | None, typer.Option("--url", help="a running service, e.g. "
                                                          "http://127.0.0.1:8000")] = None,
    token: Annotated[str | None, typer.Option("--token", envvar="SHELFRANK_TOKEN",
                                              help="the operator token (serving.admin_token)")] = None,
    events_dir: Annotated[Path | None, typer.Option("--events-dir", help="append to this event log "
                                                    "instead (checked against serving.bundle)")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Apply a file of catalog changes through the API (--url, --token) or into an event log
    (--events-dir). Every value is checked against the contracts first (a bad one is named by
    line and field and nothing is applied)."""
    from tqdm import tqdm

    from training.data.catalog_apply import KINDS, CatalogFileError, HttpSender, LogSender, apply_file

    if kind not in KINDS:
        raise typer.BadParameter(f"one of {', '.join(KINDS)}", param_hint="--kind")
    if (url is None) == (events_dir is None):
        raise typer.BadParameter("give either --url (with --token) or --events-dir", param_hint="--url")
    settings = current_settings()
    try:
        if url is not None:
            if not token:
                raise typer.BadParameter("the operator token is needed with --url", param_hint="--token")
            sender = HttpSender(url, token)
        else:
            sender = LogSender(events_dir, Path(settings.serving.bundle), settings.catalog.max_ban_ids)
        with tqdm(desc=f"catalog {kind}", unit="row", disable=not progress) as bar:
            summary = apply_file(file, kind, sender, settings.catalog.max_rows_per_request, bar.update)
    except (CatalogFileError, OSError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"{summary.sent:,} of {summary.rows:,} rows applied in {summary.requests:,} request(s)"
               + (f", {summary.new:,} new" if kind != "bans" else ""))
