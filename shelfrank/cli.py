"""Root of the ``shelfrank`` command: global options and the subcommands of each area.

Command modules import their heavy dependencies inside the command bodies, so
``shelfrank --help`` stays fast.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from ranking.settings import Settings, unknown_environment
from shelfrank.commands import (
    catalog,
    channels,
    cold_start,
    data,
    experiments,
    importing,
    merchandising,
    real_data,
    score_refresh,
    scores,
    serving,
    synonyms,
    training,
)
from shelfrank.context import current_settings, set_overrides, settings_error

app = typer.Typer(
    name="shelfrank",
    help="Shelfrank: ranking and recommendation for a shelf-style mall.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a setting, e.g. --set scores.window_days=60 (repeatable). "
            "Environment variables SHELFRANK_<SECTION>__<FIELD> work too.",
        ),
    ] = None,
) -> None:
    """Shelfrank: ranking and recommendation for a shelf-style mall."""
    unknown = unknown_environment(dict(os.environ))
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)}: no such setting (shelfrank settings lists them)",
                                 param_hint="environment (SHELFRANK_*)")
    try:
        set_overrides(set_ or [])
        current_settings()
    except ValueError as exc:
        try:  # blame the environment when it alone is bad, else --set
            Settings()
            hint = "--set"
        except ValueError:
            hint = "environment (SHELFRANK_*)"
        raise typer.BadParameter(settings_error(exc), param_hint=hint) from exc


@app.command("settings")
def show_settings() -> None:
    """Print the effective settings (defaults, environment and --set) as JSON."""
    typer.echo(json.dumps(current_settings().model_dump(mode="json"), indent=2, ensure_ascii=False))


data.register(app)
scores.register(app)
score_refresh.register(app)
training.register(app)
real_data.register(app)
experiments.register(app)
serving.register(app)
catalog.register(app)
merchandising.register(app)
importing.register(app)
channels.register(app)
cold_start.register(app)
synonyms.register(app)
if __name__ == "__main__":
    app()
