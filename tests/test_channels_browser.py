"""The demo page's channels in a real headless Chromium: the category bar opens a category page
holding only that category's cards, and the big-brand subsidy tab opens the subsidy channel.
Chromium, the service and the helpers are ``tests/test_demo_browser.py``'s."""

from __future__ import annotations

import pandas as pd
import pytest
from test_demo_browser import _shot, _wait, browser, service

pytestmark = pytest.mark.slow
__all__ = ["browser", "service"]  # the fixtures, used by name


def _shown(browser) -> list[int]:
    cards = browser.find_elements("css selector", "#shelf .card")
    return [int(c.get_attribute("data-product-id")) for c in cards]


def test_a_category_from_the_bar_shows_only_that_category(browser, service, small_mall):
    products = pd.read_parquet(small_mall / "products.parquet").set_index("product_id")
    parent = pd.read_parquet(small_mall / "categories.parquet").set_index("category_id").parent_id
    top = products.category_id.map(parent).fillna(products.category_id).astype(int)
    url, _ = service
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    buttons = browser.find_elements("css selector", "#category-bar button")
    assert len(buttons) == top.nunique(), "one button per top category"
    button = buttons[1]
    category = int(button.get_attribute("data-category-id"))
    button.click()
    _wait(browser, f"return document.body.dataset.categoryId === '{category}' && "
                   "document.querySelectorAll('#shelf .card').length > 0", what=f"category {category}")
    shown = _shown(browser)
    _shot(browser, f"category-{category}")
    assert len(shown) == 20
    assert set(top[shown]) == {category}, "only the category's cards"
    assert "active" in button.get_attribute("class")


def test_the_subsidy_tab_opens_the_subsidy_channel(browser, service, small_mall):
    products = pd.read_parquet(small_mall / "products.parquet").set_index("product_id")
    url, _ = service
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    browser.find_element("id", "subsidy-tab").click()
    _wait(browser, "return document.body.dataset.channel === 'subsidy' && "
                   "document.querySelectorAll('#shelf .card').length > 0", what="the subsidy channel")
    shown = _shown(browser)
    _shot(browser, "subsidy-channel")
    assert products.loc[shown].subsidy.all(), "only subsidy products"
    badges = browser.find_elements("css selector", "#shelf .card .badge.subsidy")
    assert len(badges) == len(shown)
    assert browser.find_element("id", "shelf-title").text.startswith("大牌大补")
    # the pacing runs on the demo's embedded live state, so the page shows no pacing warning
    assert "pacing is off" not in browser.find_element("id", "status").text
