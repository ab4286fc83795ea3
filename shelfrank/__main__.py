"""``python -m shelfrank`` runs the command line."""

from shelfrank.cli import app

app()
