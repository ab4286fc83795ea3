"""``shelfrank scores``: platform scores from raw events (being built, issue 3)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Nothing registered until the scores commands exist."""
