"""Entry point for uvicorn workers: the app built from the settings the CLI resolved.

``shelfrank serve`` puts its effective settings (defaults, environment, ``--set``) into
``SHELFRANK_EFFECTIVE_SETTINGS`` so every worker process serves with exactly the same
settings; run directly (``uvicorn serving.main:app_factory --factory``) it reads the
usual defaults and ``SHELFRANK_*`` environment.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from ranking.settings import Settings, load_settings
from serving.app import create_app
from serving.protocol import configure
from serving.supervisor import SETTINGS_ENV

__all__ = ["SETTINGS_ENV", "app_factory"]


def app_factory() -> FastAPI:
    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate_json(raw) if raw else load_settings()
    configure(settings.serving)  # the connection protocol's head limits, before any connection
    return create_app(settings)
