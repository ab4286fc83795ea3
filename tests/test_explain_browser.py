"""The demo page's "Why this card?" dialog in the real headless Chromium (issue 27): it speaks a
merchant's words (the average card as the baseline, feature labels with units, dimensions out
of 100, rules named for what they do) and a homepage card's relevance is exactly 0.

Reuses the browser and service fixtures of ``tests/test_demo_browser.py``."""

from __future__ import annotations

import re

import pytest
from test_demo_browser import _shot, _wait, browser, service  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def test_the_homepage_explanation_dialog_reads_as_words_and_units(browser, service):  # noqa: F811
    url, _ = service
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    browser.find_element("css selector", "#shelf .card .why-btn").click()
    _wait(browser, "return document.getElementById('why').open", what="the explanation dialog")
    text = browser.find_element("id", "why-body").text
    _shot(browser, "explanation-homepage")
    assert "average card" in text and "bias" not in text
    assert "Product score dimensions (0-100)" in text and re.search(r"\d+/100", text)
    # the relevance bar of a page without a query is exactly zero
    bars = browser.find_element("id", "why-bars").text.splitlines()
    relevance = bars[bars.index("relevance") + 1]
    assert relevance == "+0.000"
    features = [li.text for li in browser.find_elements("css selector", "#why-features li")]
    assert features and all(": " in f and "→" in f for f in features)
    assert not any(re.match(r"^[a-z_]+ = ", f) for f in features)  # no raw "cvr = 0.031"
    browser.find_element("css selector", "#why .close").click()
