"""``shelfrank merchandising export|import``: the rules and synonyms as one file (docs/merchandising.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfrank.context import fail

merch_app = typer.Typer(help="The operator's rules and synonyms as one reviewable file.",
                        no_args_is_help=True)
URL = typer.Option("--url", help="a running service, e.g. http://127.0.0.1:8000")
TOKEN = typer.Option("--token", envvar="SHELFRANK_TOKEN", help="the operator token (serving.admin_token)")


def register(app: typer.Typer) -> None:
    app.add_typer(merch_app, name="merchandising")


@merch_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="the JSON file to write", dir_okay=False)],
    url: Annotated[str | None, URL] = None,
    token: Annotated[str | None, TOKEN] = None,
    events_dir: Annotated[Path | None, typer.Option("--events-dir", help="read this event log instead "
                                                    "of a service")] = None,
) -> None:
    """Write every rule and synonym set to FILE (sorted, indented JSON: diff it in git)."""
    from training.data.merchandising_file import MerchandisingFileError, export_book

    if (url is None) == (events_dir is None):
        raise typer.BadParameter("give either --url (with --token) or --events-dir", param_hint="--url")
    if url is not None and not token:
        raise typer.BadParameter("the operator token is needed with --url", param_hint="--token")
    try:
        book = export_book(file, url, token, events_dir)
    except (MerchandisingFileError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"{len(book['rules']):,} rules and {len(book['synonyms']):,} synonym sets written to {file}")


@merch_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="an export file", exists=True, dir_okay=False)],
    url: Annotated[str, URL],
    token: Annotated[str | None, TOKEN] = None,
    mode: Annotated[str, typer.Option("--mode", help="merge: put the file's items; replace: and delete "
                                                     "every other rule and synonym set")] = "merge",
) -> None:
    """Import FILE into a running service, checked whole first (nothing is written on a refusal)."""
    from training.data.merchandising_file import MerchandisingFileError, import_book

    if mode not in ("merge", "replace"):
        raise typer.BadParameter("merge or replace", param_hint="--mode")
    if not token:
        raise typer.BadParameter("the operator token is needed", param_hint="--token")
    try:
        done = import_book(file, url, token, mode)
    except (MerchandisingFileError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"{mode}: {done['rules']:,} rules and {done['synonyms']:,} synonym sets written, "
               f"{done['deleted']:,} deleted (book version {done['version']:,})")
