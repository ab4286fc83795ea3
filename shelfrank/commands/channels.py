"""``shelfrank channels pacing``: the subsidy channel's pacing report of a running service."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shelfrank.context import fail

channels_app = typer.Typer(help="The channel pages: the subsidy channel's pacing.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(channels_app, name="channels")


@channels_app.command("pacing")
def pacing(
    url: Annotated[str, typer.Option("--url", help="a running service, e.g. http://127.0.0.1:8000")],
    token: Annotated[str | None, typer.Option("--token", envvar="SHELFRANK_TOKEN",
                                              help="the operator token (serving.admin_token)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Per participating brand: its daily promise, impressions delivered today on the subsidy
    channel, due by now and the pacing error (docs/channels.md)."""
    from serving.channel_report import PacingReportError, fetch_pacing, pacing_lines

    try:
        report = fetch_pacing(url, token)
    except PacingReportError as exc:
        fail(str(exc))
    typer.echo(json.dumps(report, indent=2) if as_json else "\n".join(pacing_lines(report)))
