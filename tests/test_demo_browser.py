"""The demo page in a real headless Chromium: homepage, search, explanation, click -> event log.

Chromium comes from Debian (``chromium`` and ``chromium-driver``); when it is missing the
test set-up installs it with apt-get, and if that is impossible the test is skipped with
the reason. Screenshots go to ``test-artifacts/`` (or ``$SHELFRANK_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from service_process import start_service, stop_service

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("SHELFRANK_TEST_ARTIFACTS", "test-artifacts"))


def _ensure_chromium() -> str | None:
    """None when Chromium and its driver are usable, else why not."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "Chromium is not installed and apt-get (as root) is not available to install it"
    try:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], check=True,
                       capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"installing Debian's chromium and chromium-driver failed: {exc}"
    return None if CHROMIUM.exists() and CHROMEDRIVER.exists() else "chromium still missing after apt-get"


def _ensure_cjk_font() -> None:
    """Best effort: a small CJK font so the screenshots show the Chinese titles (not boxes).

    The page itself needs no font (a user's browser has one); a failure here only makes
    the screenshots uglier, so it is not a reason to skip.
    """
    fc_list = shutil.which("fc-list")
    if fc_list and subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout.strip():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return
    subprocess.run(["apt-get", "install", "-y", "-q", "fonts-wqy-microhei"], capture_output=True,
                   timeout=300, check=False)


def launch_chromium(*extra_args: str):
    """A headless Chromium driven by Selenium, with ``extra_args`` on its command line (the test
    is skipped with the reason when Chromium cannot be had); the caller quits it."""
    why = _ensure_chromium()
    if why:
        pytest.skip(why)
    _ensure_cjk_font()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600",
                *extra_args):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture(scope="module")
def browser():
    driver = launch_chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def service(small_models, tmp_path_factory):
    events = tmp_path_factory.mktemp("browser-events")
    # the demo page posts its clicks from the browser, as `make demo` serves it: writes open (no token)
    proc, url = start_service(small_models, events, extra=["serving.admin_token="])
    yield url, events
    stop_service(proc)


def _wait(driver, condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(condition)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {driver.find_element('id', 'status').text}")


def _shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_homepage_search_explain_and_click_reach_the_event_log(browser, service, small_mall):
    import pyarrow.parquet as pq

    from ranking.event_log import read_event_log

    url, events = service
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    cards = browser.find_elements("css selector", "#shelf .card")
    assert len(cards) >= 10
    assert "variant" in browser.find_element("id", "meta").text
    _shot(browser, "homepage")

    # search for a word of a real title
    title = pq.read_table(small_mall / "products.parquet", columns=["title"]).column(0)[0].as_py()
    query = title.split()[0] if " " in title else title[:2]
    box = browser.find_element("id", "query")
    box.clear()
    box.send_keys(query)
    browser.find_element("css selector", "#search-form button").click()
    _wait(browser, "return document.getElementById('shelf-title').textContent.startsWith('Search')",
          what="search results")
    _wait(browser, "return document.querySelectorAll('#shelf .card').length > 0", what="search cards")
    _shot(browser, "search")

    # open an explanation
    browser.find_element("css selector", "#shelf .card .why-btn").click()
    _wait(browser, "return document.getElementById('why').open", what="the explanation dialog")
    bars = browser.find_elements("css selector", "#why-bars .bar-track")
    assert len(bars) >= 3
    _shot(browser, "explanation")
    browser.find_element("css selector", "#why .close").click()

    # click a card: the click reaches the durable event log
    card = browser.find_elements("css selector", "#shelf .card")[1]
    product_id = int(card.get_attribute("data-product-id"))
    card.click()
    _wait(browser, f"return document.body.dataset.lastClick === '{product_id}'", what="the click event")
    logged = read_event_log(events).tables
    assert product_id in logged["clicks"].column("product_id").to_pylist()
    assert logged["impressions"].num_rows >= 20  # the page sent its impressions too


def test_the_page_fits_a_phone_screen(browser, service):
    url, _ = service
    browser.set_window_size(390, 844)
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, "no horizontal scrolling on a phone"
    _shot(browser, "phone")
    browser.set_window_size(1280, 1600)


def test_a_refused_search_shows_the_reason_not_json(browser, service):
    """A 422 (here a query with no searchable words) reads as the service's reason."""
    url, _ = service
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    box = browser.find_element("id", "query")
    box.clear()
    box.send_keys("!!!")
    browser.find_element("css selector", "#search-form button").click()
    text = _wait(browser, "return document.getElementById('status').textContent.startsWith('Search failed')"
                 " && document.getElementById('status').textContent", what="the refusal")
    assert "no searchable words" in text and "{" not in text and "loc" not in text, text


def test_a_search_no_title_matches_says_so_and_a_pinyin_one_offers_the_typed_query(browser, service):
    """A query no product text holds ("qxzvkw"): the page shows the service's no-match notice,
    not matches (candidates below the relevance floor are not shown at all). A pinyin query
    of a catalog word is read as that word, and the page offers the query as typed."""
    url, _ = service
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")

    def search(query: str, what: str) -> str:
        box = browser.find_element("id", "query")
        box.clear()
        box.send_keys(query)
        browser.find_element("css selector", "#search-form button").click()
        return _wait(browser, f"return document.getElementById('shelf-title').textContent.includes("
                              f"'{what}') && document.getElementById('status').textContent", what=what)

    text = search("qxzvkw", "“qxzvkw”")
    assert text.startswith("No product matches 'qxzvkw'"), text
    text = search("dami", "results for “大米”")
    assert text == "Search instead for “dami”", text
