"""The demo page's badges and badge filters in a real headless Chromium (the one
tests/test_demo_browser.py drives, with its fixtures): cards show their badges in Chinese and
English, and ticking "free shipping" leaves only free-shipping cards, on the homepage and in
search."""

from __future__ import annotations

import pytest
from test_demo_browser import _shot, _wait, browser, service  # noqa: F401 (fixtures)

from ranking.features.snapshot import FeatureSnapshot

pytestmark = pytest.mark.slow

EVERY_CARD_HAS = ("const cards = [...document.querySelectorAll('#shelf .card')];"
                  "return cards.length > 0 && cards.every((c) => c.querySelector("
                  "'.badge.offer[data-badge=\"{code}\"]'));")


def _shown(driver) -> dict[int, list[str]]:
    return {int(card.get_attribute("data-product-id")):
            [b.get_attribute("data-badge") for b in card.find_elements("css selector", ".badge.offer")]
            for card in driver.find_elements("css selector", "#shelf .card")}


def test_cards_show_badges_and_free_shipping_leaves_only_free_shipping_cards(browser, service,  # noqa: F811
                                                                            small_models):
    url, _ = service
    free = FeatureSnapshot.load(small_models / "latest" / "snapshot").products
    ships_free = dict(zip(free.ids.tolist(), (free.columns["free_shipping"] > 0).tolist(), strict=True))
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    shown = _shown(browser)
    assert len(shown) >= 10
    assert any("free_shipping" in b for b in shown.values()), "some card ships free"
    assert any("free_shipping" not in b for b in shown.values()), "and some does not"
    for pid, badges in shown.items():  # what the card shows is the catalog's attribute
        assert ("free_shipping" in badges) == ships_free[pid], pid
    label = browser.find_element("css selector", '#shelf .badge.offer[data-badge="free_shipping"]').text
    assert "包邮" in label and "free shipping" in label
    _shot(browser, "badges_homepage")

    browser.find_element("id", "filter-free_shipping").click()
    _wait(browser, EVERY_CARD_HAS.replace("{code}", "free_shipping"), what="only free-shipping cards")
    assert all(ships_free[pid] for pid in _shown(browser))
    _shot(browser, "badges_free_shipping")

    browser.find_element("id", "filter-pay_later").click()  # both: every card carries both
    _wait(browser, EVERY_CARD_HAS.replace("{code}", "pay_later"), what="pay-later cards")
    assert all({"free_shipping", "pay_later"} <= set(b) for b in _shown(browser).values())

    browser.find_element("id", "filter-pay_later").click()
    box = browser.find_element("id", "query")
    box.clear()
    box.send_keys("大米")
    browser.find_element("css selector", "#search-form button").click()
    _wait(browser, "return document.getElementById('shelf-title').textContent.startsWith('Search')",
          what="search results")
    _wait(browser, EVERY_CARD_HAS.replace("{code}", "free_shipping"), what="free-shipping search cards")
    assert all(ships_free[pid] for pid in _shown(browser))
    _shot(browser, "badges_search")
