"""The demo page's homepage in a real headless Chromium holds a spread shelf (issue 27): at three
hours, at least 4 leaf categories among the rendered cards, and no more subsidy badges than the
homepage's subsidy share allows. Chromium, the service and the helpers are
``tests/test_demo_browser.py``'s."""

from __future__ import annotations

import math

import pytest
from test_demo_browser import _shot, _wait, browser, service

from ranking.settings import RulesSettings

pytestmark = pytest.mark.slow
__all__ = ["browser", "service"]  # the fixtures, used by name


@pytest.mark.parametrize("hour", [9, 15, 21])
def test_the_demo_homepage_spreads_leaf_categories_and_subsidy_badges(browser, service, small_mall, hour):
    import pyarrow.parquet as pq

    url, _ = service
    browser.get(url + "/")
    _wait(browser, "return document.body.dataset.ready === '1'", what="the homepage")
    # blank the title first: when the page opened at this very hour its title already says so,
    # and the cards read below would be replaced by the render the change starts
    browser.execute_script("document.getElementById('shelf-title').textContent = '';"
                           "const h = document.getElementById('hour'); h.value = arguments[0];"
                           "h.dispatchEvent(new Event('change'));", str(hour))
    _wait(browser, f"return document.getElementById('shelf-title').textContent.endsWith(' at {hour}:00')",
          what=f"the homepage at {hour}:00")
    cards = browser.find_elements("css selector", "#shelf .card")
    ids = [int(c.get_attribute("data-product-id")) for c in cards]
    products = pq.read_table(small_mall / "products.parquet", columns=["product_id", "category_id"])
    leaf = dict(zip(products.column(0).to_pylist(), products.column(1).to_pylist(), strict=True))
    leaves = [leaf[i] for i in ids]
    _shot(browser, f"homepage-spread-{hour:02d}h")
    assert len(cards) == 20
    assert len(set(leaves)) >= max(4, RulesSettings().spread_min_categories["homepage"]), \
        f"leaf categories on the page: {sorted(set(leaves))}"
    badges = browser.find_elements("css selector", "#shelf .card .badge.subsidy")
    assert len(badges) <= math.floor(RulesSettings().subsidy_share_max["homepage"] * len(cards))
