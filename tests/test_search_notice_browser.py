"""The demo page's search notice in a real headless Chromium (issue 27, search honesty).

A query whose strongest word no product holds, beside a word the catalog has, shows the
partial-match notice naming both; the browser, the service and the fixtures are
``tests/test_demo_browser.py``'s.
"""

from __future__ import annotations

import pytest
from test_demo_browser import _shot, _wait, browser, service  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow


def _search(driver, query: str) -> str:
    box = driver.find_element("id", "query")
    box.clear()
    box.send_keys(query)
    driver.find_element("css selector", "#search-form button").click()
    return _wait(driver, "return document.getElementById('shelf-title').textContent.startsWith('Search')"
                         " && document.getElementById('status').textContent.startsWith('No product')"
                         " && document.getElementById('status').textContent", what=f"the notice of {query}")


def test_a_query_the_catalog_lacks_shows_the_partial_match_notice(browser, service, small_mall):  # noqa: F811
    import pyarrow.parquet as pq

    url, _ = service
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    title = pq.read_table(small_mall / "products.parquet", columns=["title"]).column(0)[0].as_py()
    held = title.split()[0] if " " in title else title[:2]
    text = _search(browser, f"{held} qxzvkw")
    assert text.startswith("No product matches 'qxzvkw'; showing results for "), text
    cards = browser.find_elements("css selector", "#shelf .card")
    assert cards, "the word the catalog holds still finds products"
    # each card says which query words its text holds: the held word, never the lacking one
    lines = [c.find_element("css selector", ".matched").text for c in cards]
    assert any(line.startswith("matches: ") for line in lines), lines
    assert all("qxzvkw" not in line for line in lines), lines
    _shot(browser, "search-partial-match")
