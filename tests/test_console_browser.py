"""The operator console in a real headless Chromium (issue 28): sign in with the operator token,
create a pin rule in the page for a query, preview it (the pinned card first with the draft, not
without), save it, then the shopper's own search puts the pinned card first; the merchant view
shows a store's traffic report.

Reuses the browser fixture and helpers of ``tests/test_demo_browser.py``; the service is started
with the operator token (the demo page's fixture starts one without)."""

from __future__ import annotations

import httpx2
import pytest
from selenium.webdriver.support.ui import Select
from service_process import start_service, stop_service
from test_demo_browser import _shot, _wait, browser  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow
TOKEN = "s3cret"  # start_service's serving.admin_token
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def merchant_store(small_mall) -> int:
    """The store given a merchant token (``m-token``): the first product's."""
    import pyarrow.parquet as pq

    return int(pq.read_table(small_mall / "products.parquet", columns=["store_id"]).column(0)[0].as_py())


@pytest.fixture(scope="module")
def console(small_models, tmp_path_factory, merchant_store):
    events = tmp_path_factory.mktemp("console-events")
    proc, url = start_service(small_models, events,
                              extra=[f'serving.merchant_tokens={{"{merchant_store}": "m-token"}}'])
    yield url
    stop_service(proc)


def _sign_in(driver, url: str, token: str = TOKEN) -> None:
    """The console opened afresh (no token kept in the tab), ``token`` typed into its prompt."""
    driver.get(url + "/console")
    # a token kept from an earlier test signs the page in on load and stores the token again when
    # /readyz answers: clear only after that, or the reload below may find it signed in
    _wait(driver, "return document.body.dataset.ready === '1'", what="the console")
    driver.execute_script("sessionStorage.clear()")
    driver.get(url + "/console")
    _wait(driver, "return document.body.dataset.ready === '1'", what="the console")
    _type(driver, "#token", token)
    driver.find_element("css selector", "#login-form button").click()


def _type(driver, selector: str, text: str) -> None:
    box = driver.find_element("css selector", selector)
    box.clear()
    box.send_keys(text)


def _a_query_and_its_fifth_card(url: str) -> tuple[str, int]:
    """A query of a real title whose search page has at least 5 cards, and that page's 5th card
    (exploration slots draw per request, so another request may place it elsewhere). Searches are
    an anonymous shopper's: a signed-in one's pages leave out cards shown often and never clicked."""
    home = httpx2.post(f"{url}/v1/homepage", json={"user_id": 1, "page_size": 20}, timeout=30).json()
    for card in home["cards"]:
        query = card["title"].split()[0] if " " in card["title"] else card["title"][:2]
        page = httpx2.post(f"{url}/v1/search", json={"query": query, "page_size": 20},
                           timeout=30).json()
        ids = [c["product_id"] for c in page["cards"]]
        if len(ids) >= 5:
            return query, ids[4]
    raise AssertionError("no query of the homepage's titles finds 5 cards")


def test_a_wrong_token_is_refused_in_words(browser, console):  # noqa: F811
    _sign_in(browser, console, "not-the-token")
    text = _wait(browser, "return document.getElementById('status').textContent.startsWith('Not signed in')"
                 " && document.getElementById('status').textContent", what="the refusal")
    assert "wrong token" in text and "{" not in text, text
    assert not browser.find_element("id", "tabs").is_displayed()


def test_create_preview_and_save_a_pin_then_the_shopper_sees_it_first(browser, console):  # noqa: F811
    query, pinned = _a_query_and_its_fifth_card(console)
    _sign_in(browser, console)
    _wait(browser, "return !document.getElementById('tabs').hidden", what="signed in")
    browser.find_element("id", "new-rule").click()
    _type(browser, "#rule-form input[name=query]", query)
    Select(browser.find_element("css selector", "#rule-form select[name=kind]")).select_by_value("pin")
    _type(browser, "#rule-form input[name=ids]", str(pinned))
    _type(browser, "#rule-form input[name=reason]", "browser test: pin the fifth card")
    browser.find_element("id", "rule-preview").click()
    _wait(browser, "return document.body.dataset.previewed", what="the preview")
    _shot(browser, "console-preview")
    first = browser.execute_script(
        "return [...document.querySelectorAll('#pv-with .pcard')].map(e => Number(e.dataset.productId))")
    before = browser.execute_script(
        "return [...document.querySelectorAll('#pv-without .pcard')].map(e => Number(e.dataset.productId))")
    assert first[0] == pinned and before[0] != pinned, (first[:5], before[:5])
    notes = browser.find_elements("css selector", "#pv-with .pcard:first-child .note.merch")
    assert notes, "the pinned card's explanation names the rule"

    # save it from the form, then the shopper's own search shows it first
    browser.find_element("css selector", "#tabs button[data-tab=rules]").click()
    browser.find_element("id", "rule-save").click()
    rule_id = _wait(browser, "return document.body.dataset.savedRule", what="the saved rule")
    _wait(browser, f"return !!document.querySelector('#rules tr[data-rule-id=\"{rule_id}\"]')",
          what="the rule in the list")
    _shot(browser, "console-rules")
    page = httpx2.post(f"{console}/v1/search", json={"query": query, "page_size": 20},
                       timeout=30).json()
    assert page["cards"][0]["product_id"] == pinned

    # its history names the operator and the reason
    browser.find_element("css selector", f"#rules tr[data-rule-id=\"{rule_id}\"] .hist").click()
    _wait(browser, "return document.getElementById('history').open", what="the history")
    text = browser.find_element("id", "history-list").text
    assert "browser test: pin the fifth card" in text and "operator" in text, text
    browser.find_element("css selector", "#history .close").click()


def test_the_merchant_view_shows_a_stores_traffic_report(browser, console):  # noqa: F811
    home = httpx2.post(f"{console}/v1/homepage", json={"user_id": 2, "page_size": 10}, timeout=30).json()
    store = home["cards"][0]["store_id"]
    _sign_in(browser, console)
    _wait(browser, "return !document.getElementById('tabs').hidden", what="signed in")
    browser.find_element("css selector", "#tabs button[data-tab=merchant]").click()
    _type(browser, "#mv-store", str(store))
    browser.find_element("css selector", "#merchant-form button").click()
    _wait(browser, "return !!document.getElementById('mv-score')", what="the traffic report")
    text = browser.find_element("id", "merchant-report").text
    expected = httpx2.get(f"{console}/v1/merchant/stores/{store}/traffic", headers=OPERATOR,
                          timeout=30).json()
    assert f"Store {store}" in text and "exposure share" in text and "Grade mix" in text
    assert f"{expected['store_experience_score']:.1f}" in browser.find_element("id", "mv-score").text
    _shot(browser, "console-merchant")


def test_edit_and_delete_with_a_reason_reach_the_audit_trail(browser, console):  # noqa: F811
    rule = {"match": {"contains": "browser"}, "action": {"hide": [1]}, "reason": "made by the API"}
    made = httpx2.post(f"{console}/v1/rules", json=rule, headers=OPERATOR, timeout=30)
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]
    _sign_in(browser, console)
    _wait(browser, "return !document.getElementById('tab-rules').hidden", what="the rules tab")
    row = f"#rules tr[data-rule-id=\"{rule_id}\"]"
    _wait(browser, f"return !!document.querySelector('{row}')", what="the rule in the list")
    # edit: the form is filled from the rule; a new reason and a second product are saved with PUT
    browser.find_element("css selector", f"{row} .edit").click()
    assert browser.find_element("css selector", "#rule-form input[name=contains]").get_attribute("value") \
        == "browser"
    _type(browser, "#rule-form input[name=ids]", "1, 2")
    _type(browser, "#rule-form input[name=reason]", "edited in the console")
    browser.find_element("id", "rule-save").click()
    _wait(browser, "return document.getElementById('status').textContent.includes('saved')", what="the edit")
    stored = httpx2.get(f"{console}/v1/rules/{rule_id}", headers=OPERATOR, timeout=30).json()
    assert stored["action"]["hide"] == [1, 2] and stored["reason"] == "edited in the console"
    # delete asks for the reason the audit trail keeps
    _wait(browser, f"return !!document.querySelector('{row}')", what="the edited rule in the list")
    browser.find_element("css selector", f"{row} .del").click()
    prompt = browser.switch_to.alert
    prompt.send_keys("campaign over")
    prompt.accept()
    _wait(browser, f"return !document.querySelector('{row}')", what="the rule gone from the list")
    history = httpx2.get(f"{console}/v1/rules/{rule_id}/history", headers=OPERATOR, timeout=30)
    changes = history.json()["changes"]
    assert [(c["op"], c["reason"]) for c in changes] == [
        ("put", "made by the API"), ("put", "edited in the console"), ("delete", "campaign over")]


def test_a_synonym_set_made_in_the_page_is_stored(browser, console):  # noqa: F811
    _sign_in(browser, console)
    _wait(browser, "return !document.getElementById('tabs').hidden", what="signed in")
    browser.find_element("css selector", "#tabs button[data-tab=synonyms]").click()
    _wait(browser, "return !document.getElementById('tab-synonyms').hidden", what="the synonyms tab")
    _type(browser, "#synonym-form input[name=terms]", "phone, 手机, smartphone")
    browser.find_element("css selector", "#synonym-form input[name=one_way]").click()
    _type(browser, "#synonym-form input[name=reason]", "shoppers type phone")
    browser.find_element("css selector", "#synonym-form button[type=submit]").click()
    _wait(browser, "return document.querySelectorAll('#synonyms tr').length > 0", what="the synonym set")
    assert "phone → 手机 → smartphone" in browser.find_element("id", "synonyms").text
    listed = httpx2.get(f"{console}/v1/synonyms", headers=OPERATOR, timeout=30).json()["synonyms"]
    assert [(s["terms"], s["one_way"], s["author"]) for s in listed] == [
        (["phone", "手机", "smartphone"], True, "operator")]


def test_a_scheduled_boost_made_in_the_form_is_stored_as_typed_and_listed_as_scheduled(browser, console):  # noqa: F811
    _sign_in(browser, console)
    _wait(browser, "return !document.getElementById('tab-rules').hidden", what="the rules tab")
    browser.find_element("id", "new-rule").click()
    _type(browser, "#rule-form input[name=contains]", "奶")
    Select(browser.find_element("css selector", "#rule-form select[name=kind]")).select_by_value("boost")
    Select(browser.find_element("css selector", "#rule-form select[name=target]")).select_by_value("store_id")
    _type(browser, "#rule-form input[name=target_value]", "3")
    _type(browser, "#rule-form input[name=by]", "0.5")
    # datetime-local takes its value from script (typing into it depends on the browser's locale)
    browser.execute_script("""const f = document.getElementById('rule-form').elements;
        f.start.value = '2030-01-01T08:00'; f.end.value = '2030-01-08T08:00';
        f.start.dispatchEvent(new Event('input', {bubbles: true}));""")
    _type(browser, "#rule-form input[name=hour_from]", "22")
    _type(browser, "#rule-form input[name=hour_to]", "6")
    _type(browser, "#rule-form input[name=reason]", "night campaign next year")
    browser.find_element("id", "rule-save").click()
    rule_id = _wait(browser, "return document.body.dataset.savedRule", what="the saved rule")
    stored = httpx2.get(f"{console}/v1/rules/{rule_id}", headers=OPERATOR, timeout=30).json()
    assert {k: v for k, v in stored["match"].items() if v not in (None, False)} == {"contains": "奶"}
    assert stored["action"] == {"boost": {"target": {"store_id": 3}, "by": 0.5}}
    offset = browser.execute_script("return -new Date('2030-01-01T08:00').getTimezoneOffset()")
    start = stored["schedule"]["start"]
    assert start.startswith("2030-01-01T08:00:00") or offset != 0, start  # the browser's own zone
    assert stored["schedule"]["hours"] == [22, 6] and stored["schedule"]["end"] > start
    row = f"#rules tr[data-rule-id=\"{rule_id}\"]"
    _wait(browser, f"return !!document.querySelector('{row}')", what="the rule in the list")
    assert browser.find_element("css selector", f"{row} .state").text == "scheduled"
    httpx2.request("DELETE", f"{console}/v1/rules/{rule_id}", params={"reason": "test over"},
                   headers=OPERATOR)


def test_a_merchant_token_reads_its_own_stores_report_only(browser, console, merchant_store):  # noqa: F811
    _sign_in(browser, console)
    _wait(browser, "return !document.getElementById('tabs').hidden", what="signed in")
    browser.find_element("css selector", "#tabs button[data-tab=merchant]").click()
    _type(browser, "#mv-token", "m-token")
    _type(browser, "#mv-store", str(merchant_store))
    browser.find_element("css selector", "#merchant-form button").click()
    _wait(browser, "return !!document.getElementById('mv-score')", what="the store's own report")
    assert f"Store {merchant_store}" in browser.find_element("id", "merchant-report").text
    _type(browser, "#mv-store", str(merchant_store + 1))
    browser.find_element("css selector", "#merchant-form button").click()
    text = _wait(browser, "return document.getElementById('status').textContent.startsWith('No report')"
                 " && document.getElementById('status').textContent", what="the refusal")
    assert "reads only its own report" in text, text
    assert not browser.find_element("id", "tabs").get_attribute("hidden")  # still signed in


def test_a_homepage_preview_hides_the_card_for_that_shopper(browser, console):  # noqa: F811
    _sign_in(browser, console)
    _wait(browser, "return !document.getElementById('tab-rules').hidden", what="the rules tab")
    now = httpx2.post(f"{console}/v1/rules/preview", headers=OPERATOR, timeout=30, json={
        "surface": "homepage", "request": {"user_id": 2, "page_size": 20}}).json()
    first = now["without_draft"]["cards"][0]
    browser.find_element("id", "new-rule").click()
    surface = Select(browser.find_element("css selector", "#rule-form select[name=surface]"))
    surface.select_by_visible_text("homepage")
    Select(browser.find_element("css selector", "#rule-form select[name=kind]")).select_by_value("hide")
    _type(browser, "#rule-form input[name=ids]", str(first["product_id"]))
    _type(browser, "#rule-form input[name=reason]", "under investigation")
    browser.find_element("id", "rule-preview").click()
    _wait(browser, "return !document.getElementById('tab-preview').hidden", what="the preview tab")
    assert browser.find_element("id", "pv-surface").get_attribute("value") == "homepage"
    _type(browser, "#pv-user", "2")
    browser.execute_script("delete document.body.dataset.previewed")
    browser.find_element("css selector", "#preview-form button").click()
    _wait(browser, "return document.body.dataset.previewed", what="the homepage preview")
    ids = {side: browser.execute_script(
        f"return [...document.querySelectorAll('#pv-{side} .pcard')].map(e => Number(e.dataset.productId))")
        for side in ("without", "with")}
    assert first["product_id"] in ids["without"] and first["product_id"] not in ids["with"], ids
    assert "removed or not pinned by rules" in browser.find_element("id", "pv-meta-with").text
