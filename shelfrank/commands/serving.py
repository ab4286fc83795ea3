"""``shelfrank serve``: the ranking service on uvicorn (one or more worker processes)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ranking.settings import settings_json_with_secrets
from shelfrank.context import current_settings


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    bundle: Annotated[Path | None, typer.Option(help="bundle folder (default serving.bundle)")] = None,
    host: Annotated[str | None, typer.Option(help="interface (default serving.host, loopback)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="port (default serving.port)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="worker processes (default serving.workers)")
                       ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve search, homepage, rerank, similar, events, metrics and admin reload over HTTP."""
    import uvicorn

    from serving.protocol import PROTOCOL
    from serving.supervisor import SETTINGS_ENV, write_control

    if log_level.lower() not in uvicorn.config.LOG_LEVELS:
        raise typer.BadParameter(f"{log_level!r} is not one of {', '.join(uvicorn.config.LOG_LEVELS)}",
                                 param_hint="--log-level")
    settings = current_settings()
    s = settings.serving
    if bundle is not None:
        s.bundle = str(bundle)
    s.host, s.port, s.workers = host or s.host, port or s.port, workers or s.workers
    if not Path(s.bundle).exists():
        typer.echo(f"warning: no bundle at {s.bundle}; the service starts with /readyz false "
                   "(train one with `shelfrank train`, then POST /admin/reload)", err=True)
    else:  # not serving.state: the supervisor would import the whole engine for one file
        write_control(Path(s.events_dir), str(Path(s.bundle).resolve()))
    os.environ[SETTINGS_ENV] = settings_json_with_secrets(settings)  # the workers need the token
    if s.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="shelfrank-metrics-")
    typer.echo(f"serving {s.bundle} on http://{s.host}:{s.port} with {s.workers} worker(s); "
               f"API docs at http://{s.host}:{s.port}/docs")
    uvicorn.run("serving.main:app_factory", factory=True, host=s.host, port=s.port,
                workers=s.workers, log_level=log_level, access_log=False, http=PROTOCOL,
                limit_concurrency=s.max_connections, backlog=s.backlog,
                timeout_keep_alive=s.keep_alive_seconds,
                timeout_graceful_shutdown=s.graceful_shutdown_seconds,
                h11_max_incomplete_event_size=s.max_header_bytes)
