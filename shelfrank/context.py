"""What every command of a command-line run shares: its settings (defaults, environment, then
``--set``), how it reads a time option (:func:`iso_time`) and how it stops on bad input
(:func:`fail`: one ``error:`` line, exit 2)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from pydantic import ValidationError

from ranking.settings import Settings, load_settings

_overrides: list[str] = []


def set_overrides(pairs: list[str]) -> None:
    """Record the root command's ``--set section.field=value`` pairs."""
    _overrides[:] = pairs


def current_overrides() -> list[str]:
    """The root command's ``--set`` pairs (for a use case that loads settings per arm)."""
    return list(_overrides)


def current_settings() -> Settings:
    """The effective settings of this run."""
    return load_settings(_overrides)


def settings_error(exc: ValueError) -> str:
    """One line for bad settings, e.g. ``recall.rrf_k: Input should be a valid integer (got 'abc')``.

    Pydantic's own text spans several lines and ends in a documentation link per error.
    """
    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            parts.append(f"{where}: no such setting")
        else:
            parts.append(f"{where}: {err['msg']} (got {err['input']!r})")
    return "; ".join(parts)


def fail(message: str) -> None:
    """Stop the command: ``error: <message>`` on stderr and exit code 2 (bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def iso_time(value: str | None, option: str) -> datetime | None:
    """An ISO date or time option (None passes); a bad one is the option's usage error."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date or time: {value!r}", param_hint=option) from exc


def iso_time_ms(value: str | None, option: str) -> int | None:
    """:func:`iso_time` as UTC epoch milliseconds (a naive time is UTC)."""
    moment = iso_time(value, option)
    if moment is None:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
