"""``/docs`` and ``/redoc`` in a real headless Chromium that can reach nothing but the service.

The browser (the one ``test_demo_browser.py`` launches) resolves no host name but loopback
and sends everything else to a proxy port where nothing listens, so a page that loads a
script, a style or a font from a CDN renders blank here, as it does on a mall's intranet.
The test first proves the block holds (a fetch of a public URL fails), then asserts both
pages render every operation of ``/openapi.json`` and that every resource they asked for came
from the service's own origin (or was refused by the page's Content-Security-Policy before
any request left the browser). Screenshots go to ``test-artifacts/`` with the demo's.
"""

from __future__ import annotations

import httpx2
import pytest
from selenium.webdriver.support.ui import WebDriverWait
from service_process import start_service, stop_service
from test_demo_browser import _shot, launch_chromium

pytestmark = pytest.mark.slow

OFFLINE_ARGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no DNS but loopback
    "--proxy-server=http://127.0.0.1:9",  # and every non-loopback connection to a dead port
)
PUBLIC_URL = "https://example.com/"


# before any page script: keep every URL the page's Content-Security-Policy refused to load
RECORD_REFUSALS = ("window.refused = []; document.addEventListener('securitypolicyviolation', "
                   "e => window.refused.push(e.blockedURI));")


@pytest.fixture(scope="module")
def offline_browser():
    driver = launch_chromium(*OFFLINE_ARGS)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_REFUSALS})
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def service(small_models, tmp_path_factory):
    # the operator token is set (start_service's default): the docs stay public all the same
    proc, url = start_service(small_models, tmp_path_factory.mktemp("docs-events"))
    yield url
    stop_service(proc)


def _operations(url: str) -> list[str]:
    spec = httpx2.get(f"{url}/openapi.json", timeout=10).json()
    return [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]


def _until(driver, script: str, what: str, timeout: float = 60.0):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: d.execute_script(script))
    except Exception as exc:
        raise AssertionError(f"timed out waiting for {what}") from exc


def _foreign_requests(driver, origin: str) -> list[str]:
    """Resources the page asked another origin for and the page's policy did not refuse
    (a refused one never leaves the browser: ReDoc's Redocly logo, which then hides itself)."""
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    refused = set(driver.execute_script("return window.refused"))
    return [n for n in names if not n.startswith(origin + "/") and n not in refused]


def test_the_browser_really_is_offline(offline_browser, service):
    offline_browser.get(service + "/healthz")
    outcome = offline_browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"fetch('{PUBLIC_URL}', {{mode: 'no-cors'}}).then(() => done('reached'), () => done('blocked'));")
    assert outcome == "blocked"


def test_swagger_ui_renders_every_operation_offline(offline_browser, service):
    operations = _operations(service)
    offline_browser.get(service + "/docs")
    shown = _until(offline_browser, f"const n = document.querySelectorAll('.opblock').length; "
                                    f"return n >= {len(operations)} ? n : 0;", "Swagger UI's operations")
    assert shown == len(operations)
    paths = offline_browser.execute_script(
        "return [...document.querySelectorAll('.opblock-summary-path')].map(e => e.dataset.path)")
    assert "/v1/search" in paths and "/v1/events" in paths
    offline_browser.find_element("css selector", "#operations-ranking-search_v1_search_post button").click()
    body = _until(offline_browser, "const e = document.querySelector("
                                   "'#operations-ranking-search_v1_search_post .body-param__example'); "
                                   "return e && e.textContent;", "the search request's example")
    assert "大米" in body  # the request schema's example, rendered
    _shot(offline_browser, "api-docs-swagger")
    assert _foreign_requests(offline_browser, service) == []


def test_redoc_renders_every_operation_offline(offline_browser, service):
    operations = _operations(service)
    offline_browser.get(service + "/redoc")
    shown = _until(offline_browser, "const n = document.querySelectorAll("
                                    "'[data-section-id^=\"operation/\"]').length; "
                                    f"return n >= {len(operations)} ? n : 0;", "ReDoc's operations")
    assert shown == len(operations)
    ids = offline_browser.execute_script(
        "return [...document.querySelectorAll('[data-section-id^=\"operation/\"]')]"
        ".map(e => e.dataset.sectionId.slice('operation/'.length))")
    assert sorted(ids) == sorted(operations)
    _shot(offline_browser, "api-docs-redoc")
    assert _foreign_requests(offline_browser, service) == []
