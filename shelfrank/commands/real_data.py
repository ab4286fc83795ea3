"""``shelfrank eval``: recall and ranking on real public datasets (being built, issue 5)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Nothing registered until the evaluation commands exist."""
