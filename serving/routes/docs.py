"""The API's documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served offline.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN, so where the service's
users cannot reach it (an intranet, an air-gapped mall) they are blank. Here the pages load
the same assets from the service itself, mounted at :data:`ASSETS_PATH` from the installed
``fastapi-offline`` package (MIT), which ships Swagger UI's ``swagger-ui-bundle.js`` and
``swagger-ui.css`` and ReDoc's ``redoc.standalone.js`` and keeps them current; only its
files are used, not its app class. ReDoc's page is built without Google Fonts (it falls back
to the browser's fonts), and both pages carry a Content-Security-Policy (:data:`POLICY`) that
lets them load nothing from another origin: ReDoc's sidebar shows Redocly's logo from Redocly's
server, which would tell that server who reads the docs; under the policy the browser never asks
(the logo hides itself), so nothing on either page leaves the service's origin.

Like ``/openapi.json`` the pages are public (as FastAPI serves them): they describe the
API, they grant nothing (docs/security.md). The schema's URL honours the ASGI
``root_path`` behind a proxy, as FastAPI's own pages do.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"  # where the Swagger UI and ReDoc files are mounted
ASSETS_PACKAGE = "fastapi_offline"  # the installed package whose static/ folder holds them
# this origin only; the pages' own inline start-up script and styles, ReDoc's search worker (a blob)
POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")

router = APIRouter(include_in_schema=False)


def assets_dir() -> Path:
    """The installed Swagger UI and ReDoc files (``fastapi_offline/static``)."""
    folder = Path(str(files(ASSETS_PACKAGE) / "static"))
    missing = [n for n in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
               if not (folder / n).is_file()]
    if missing:
        raise RuntimeError(f"{ASSETS_PACKAGE} at {folder} lacks {missing}: reinstall fastapi-offline")
    return folder


def asset_files() -> StaticFiles:
    """The docs pages' scripts, styles and icon, mounted at :data:`ASSETS_PATH`."""
    return StaticFiles(directory=assets_dir())


def _urls(request: Request) -> tuple[str, str]:
    """The schema's URL and the assets' URL prefix, under the proxy's ``root_path``."""
    root = request.scope.get("root_path", "").rstrip("/")
    return root + (request.app.openapi_url or "/openapi.json"), root + ASSETS_PATH


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over ``/openapi.json``, every asset from this service."""
    openapi_url, assets = _urls(request)
    page = get_swagger_ui_html(openapi_url=openapi_url, title=f"{request.app.title} API",
                               swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                               swagger_css_url=f"{assets}/swagger-ui.css",
                               swagger_favicon_url=f"{assets}/favicon.png")
    page.headers["Content-Security-Policy"] = POLICY
    return page


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """ReDoc over ``/openapi.json``, every asset from this service (no web fonts)."""
    openapi_url, assets = _urls(request)
    page = get_redoc_html(openapi_url=openapi_url, title=f"{request.app.title} API reference",
                          redoc_js_url=f"{assets}/redoc.standalone.js",
                          redoc_favicon_url=f"{assets}/favicon.png", with_google_fonts=False)
    page.headers["Content-Security-Policy"] = POLICY
    return page
