"""``/docs`` and ``/redoc`` (serving/routes/docs.py): every asset they name comes from the service
itself, is served, and the pages stay public when tokens are configured (docs/security.md).
The browser's view of them, with no network, is ``test_api_docs_browser.py``."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ranking.settings import load_settings
from serving.app import create_app
from serving.routes.docs import ASSETS_PATH, assets_dir

PAGES = ("/docs", "/redoc")
URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*'([^']+)'""")


def _client(*sets: str, root_path: str = "") -> TestClient:
    return TestClient(create_app(load_settings(["serving.access_log=false", *sets]), load=False),
                      root_path=root_path)


def _urls(html: str) -> list[str]:
    return [a or b for a, b in URL.findall(html)]


@pytest.mark.parametrize("page", PAGES)
def test_a_docs_page_loads_every_asset_from_the_service(page):
    client = _client()
    answer = client.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    urls = _urls(answer.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "fonts.googleapis" not in answer.text
    assert "default-src 'self'" in answer.headers["content-security-policy"]  # nothing from elsewhere
    for url in urls:
        fetched = client.get(url)
        assert fetched.status_code == 200, url
        assert len(fetched.content) > 500, url  # the real file, not an empty placeholder
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts and all(u.startswith(ASSETS_PATH + "/") for u in scripts)


def test_the_assets_are_the_installed_packages_files():
    client = _client()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert client.get(f"{ASSETS_PATH}/{name}").content == (assets_dir() / name).read_bytes()
    assert b"SwaggerUIBundle" in (assets_dir() / "swagger-ui-bundle.js").read_bytes()
    assert b"Redoc" in (assets_dir() / "redoc.standalone.js").read_bytes()


def test_the_docs_stay_public_when_tokens_are_set():
    client = _client("serving.admin_token=s3cret", 'serving.client_tokens={"shop": "w"}')
    for path in (*PAGES, "/openapi.json", f"{ASSETS_PATH}/swagger-ui-bundle.js"):
        assert client.get(path).status_code == 200, path
    assert client.get("/metrics").status_code == 401  # while what the token guards stays guarded


def test_behind_a_proxy_prefix_the_pages_name_prefixed_urls():
    client = _client(root_path="/shelfrank")
    for page in PAGES:
        urls = _urls(client.get(page).text)
        assert urls and all(u.startswith("/shelfrank/") for u in urls), urls
