"""Settings of the current command-line run (defaults, environment, then ``--set``)."""

from __future__ import annotations

from ranking.settings import Settings, load_settings

_overrides: list[str] = []


def set_overrides(pairs: list[str]) -> None:
    """Record the root command's ``--set section.field=value`` pairs."""
    _overrides[:] = pairs


def current_settings() -> Settings:
    """The effective settings of this run."""
    return load_settings(_overrides)
