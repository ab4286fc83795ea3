"""Requests that are well-formed but semantically wrong or odd, found in the HTTP audit.

Each one used to get a 200 that ignored or silently dropped part of what was asked (or a
log line that broke training later); each is now a 4xx naming the field, or a documented
and visible behaviour.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ranking.event_log import read_event_log
from ranking.settings import load_settings
from serving.app import create_app


@pytest.fixture(scope="module")
def client(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    events = tmp_path_factory.mktemp("events")
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={events}",
                              "serving.admin_token=s3cret", 'serving.client_tokens={"app": "app-token"}'])
    with TestClient(create_app(settings), headers={"Authorization": "Bearer app-token"}) as c:
        yield c


@pytest.fixture(scope="module")
def products(small_mall: Path):
    import pyarrow.parquet as pq

    return pq.read_table(small_mall / "products.parquet").to_pandas()


def _locs(response) -> list[list]:
    return [e["loc"] for e in response.json()["detail"]]


CLICK = {"request_id": 1, "timestamp": 1788256800000, "user_id": 2, "product_id": 3, "position": 1}


@pytest.mark.parametrize("timestamp", [
    1788256800,  # epoch seconds sent as milliseconds: 1970
    -5,
    10**20,  # past int64: the log line would make read_event_log fail for every row
    "0001-01-01T00:00:00Z",
    "three days ahead",  # computed at run time: a collected value would differ between xdist workers
])
def test_event_timestamps_outside_2000_to_tomorrow_are_refused_and_not_logged(client, timestamp):
    if timestamp == "three days ahead":
        timestamp = int(time.time() * 1000) + 3 * 24 * 3600 * 1000
    r = client.post("/v1/events", json={"clicks": [CLICK, {**CLICK, "timestamp": timestamp}]})
    assert r.status_code == 422, r.text
    assert _locs(r) == [["body", "clicks", 1, "timestamp"]]
    logged = read_event_log(client.app.state.shelfrank.events_dir)  # still readable
    assert timestamp not in logged.tables["clicks"].column("timestamp").cast("int64").to_pylist()


def test_an_event_a_minute_ahead_is_accepted_as_clock_skew_and_hours_ahead_is_not(client):
    """Issue 24: an event 23 h ahead was accepted; clocks differ by seconds (serving.event_future_seconds)."""
    soon = int(time.time() * 1000) + 60 * 1000
    r = client.post("/v1/events", json={"clicks": [{**CLICK, "timestamp": soon}]})
    assert r.status_code == 200, r.text
    later = int(time.time() * 1000) + 23 * 3600 * 1000
    r = client.post("/v1/events", json={"clicks": [{**CLICK, "request_id": 2, "timestamp": later}]})
    assert r.status_code == 422 and _locs(r) == [["body", "clicks", 0, "timestamp"]], r.text
    assert "serving.event_future_seconds" in r.text


def test_similar_products_never_include_banned_or_out_of_stock_ones(client, products):
    hidden = set(products[products.banned | (products.stock <= 0)].product_id.tolist())
    shown: set[int] = set()
    for pid in products.product_id.tolist()[::100]:
        r = client.get(f"/v1/products/{pid}/similar?k=100")
        assert r.status_code == 200, r.text
        cards = r.json()["cards"]
        assert len(cards) == 100
        shown |= {c["product_id"] for c in cards}
    assert not shown & hidden


def test_similar_to_a_banned_product_still_answers_with_available_alternatives(client, products):
    banned = int(products[products.banned].product_id.iloc[0])
    r = client.get(f"/v1/products/{banned}/similar?k=5")
    assert r.status_code == 200 and len(r.json()["cards"]) == 5


def test_repeated_rerank_candidates_are_ranked_once_and_each_repeat_is_listed(client, products):
    ok = products[(~products.banned) & (products.stock > 0)].product_id.tolist()[:3]
    candidates = [ok[0], ok[1], ok[0], ok[2], ok[0], ok[1]]
    page = client.post("/v1/rerank", json={"surface": "homepage", "candidates": candidates}).json()
    assert sorted(c["product_id"] for c in page["cards"]) == sorted(ok)
    repeats = [(d["product_id"], d["reason"]) for d in page["dropped"]]
    assert sorted(repeats) == sorted([(ok[0], "duplicate"), (ok[0], "duplicate"), (ok[1], "duplicate")])
    assert len(page["cards"]) + len(page["dropped"]) == len(candidates)


@pytest.mark.parametrize("filters,field", [
    ({"price_min": 100, "price_max": 10}, "price_min"),
    ({"category_id": 99_999}, "category_id"),
    ({"store_id": 99_999}, "store_id"),
])
def test_search_filters_no_product_could_pass_are_a_422_not_an_empty_page(client, filters, field):
    r = client.post("/v1/search", json={"query": "大米", "filters": filters})
    assert r.status_code == 422, r.text
    assert _locs(r) == [["body", "filters", field]]


def test_top_level_and_leaf_categories_and_equal_price_bounds_filter(client, small_mall, products):
    import pyarrow.parquet as pq

    categories = pq.read_table(small_mall / "categories.parquet").to_pandas()
    top = int(categories[categories.level == 0].category_id.iloc[0])
    leaves = set(categories[categories.parent_id == top].category_id.astype(int))
    page = client.post("/v1/search", json={"query": "大米", "filters": {"category_id": top}}).json()
    in_category = dict(zip(products.product_id, products.category_id, strict=True))
    assert page["cards"] and all(in_category[c["product_id"]] in leaves for c in page["cards"])
    leaf = next(iter(leaves))
    r = client.post("/v1/search", json={"query": "大米", "filters": {"category_id": leaf}})
    assert r.status_code == 200 and all(in_category[c["product_id"]] == leaf for c in r.json()["cards"])
    r = client.post("/v1/search", json={"query": "大米", "filters": {"price_min": 20, "price_max": 20}})
    assert r.status_code == 200


@pytest.mark.parametrize("path,body", [
    ("/v1/search", {"query": "大米", "page_size": 5, "subsidy_slots": [2, 7]}),
    ("/v1/search", {"query": "大米", "subsidy_slots": [1, 1]}),
    ("/v1/homepage", {"page_size": 5, "subsidy_slots": [6]}),
    ("/v1/rerank", {"surface": "homepage", "candidates": [1, 2], "subsidy_slots": [3]}),
])
def test_subsidy_slots_past_the_page_or_repeated_are_a_422(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert _locs(r) == [["body", "subsidy_slots"]]


def test_forcing_a_variant_of_an_experiment_that_is_not_running_is_a_422(client):
    r = client.post("/v1/homepage", json={}, headers={"X-Shelfrank-Variant": "theme-test=strong"})
    assert r.status_code == 422, r.text
    assert _locs(r) == [["header", "X-Shelfrank-Variant"]] and "theme-test" in r.text


def test_a_browser_on_an_allowed_origin_may_send_the_variant_header(small_models, tmp_path):
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}",
                              'serving.cors_origins=["https://qa.example"]'])
    with TestClient(create_app(settings, load=False)) as c:
        r = c.options("/v1/homepage", headers={"Origin": "https://qa.example",
                                               "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "X-Shelfrank-Variant"})
    assert r.status_code == 200, r.text


def test_admin_reload_reads_a_bundle_name_inside_the_models_folder(client, small_models: Path):
    auth = {"Authorization": "Bearer s3cret"}
    version = (small_models / "latest").resolve().name
    for name in ("latest", version):
        r = client.post("/admin/reload", json={"bundle": name}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["bundle_version"] == version
    r = client.post("/admin/reload", json={"bundle": "../.."}, headers=auth)
    assert r.status_code == 409 and "inside" in r.json()["detail"]
    r = client.post("/admin/reload", json={"bundle": ""}, headers=auth)
    assert r.status_code == 422 and _locs(r) == [["body", "bundle"]]


@pytest.mark.parametrize("surface", ["homepage", "channel"])
def test_a_rerank_query_off_search_is_a_422_not_silently_ignored(client, surface):
    r = client.post("/v1/rerank", json={"surface": surface, "candidates": [1, 2], "query": "大米"})
    assert r.status_code == 422, r.text
    assert _locs(r) == [["body", "query"]]


@pytest.mark.parametrize("query", ["!!!", "???", "🙂🙂", "¿¡ — …", "\u200b"])
def test_a_query_with_no_searchable_words_is_a_422_not_a_page_of_arbitrary_products(client, query):
    """Only punctuation, symbols or emoji: lexical recall found nothing and dense recall
    searched with whatever vector the encoder made of the characters (a 200 of arbitrary
    products); a search-surface rerank ranked by relevance features of no words."""
    for path, body in (("/v1/search", {"query": query}),
                       ("/v1/rerank", {"surface": "search", "query": query, "candidates": [1, 2]})):
        r = client.post(path, json=body)
        assert r.status_code == 422, r.text
        assert _locs(r) == [["body", "query"]]
        assert r.json()["detail"][0]["msg"].startswith("query has no searchable words")
    # one number is a word, and so is a word of any script (Cyrillic, kana and accented Latin
    # were a 422 too while the tokenizer knew only a-z and Chinese)
    for word in ("5L!!", "молоко", "コーヒー", "café", "커피"):
        assert client.post("/v1/search", json={"query": word}).status_code == 200, word
        r = client.post("/v1/rerank", json={"surface": "search", "query": word, "candidates": [1, 2]})
        assert r.status_code == 200, (word, r.text)


def test_a_batch_repeating_an_impression_slot_or_an_order_line_is_a_422_and_nothing_is_logged(client):
    from ranking.event_log import read_event_log

    state = client.app.state.shelfrank
    before = read_event_log(state.events_dir).tables["orders"].num_rows
    order = {"order_id": 77, "request_id": 1, "timestamp": 1788256800000, "user_id": 2, "product_id": 3,
             "store_id": 22, "price_paid": 9.5, "quantity": 1, "cancelled": False}  # 22 sells 3 and 4
    r = client.post("/v1/events", json={"orders": [order, {**order, "product_id": 4}, order]})
    assert r.status_code == 422 and _locs(r) == [["body", "orders", 2]], r.text
    assert "order_id, product_id" in r.text
    impression = {"request_id": 5, "timestamp": 1788256800000, "user_id": 2, "surface": "homepage",
                  "query_id": None, "product_id": 3, "position": 1, "variant": "default", "propensity": 1.0}
    r = client.post("/v1/events", json={"impressions": [impression, {**impression, "product_id": 4}]})
    assert r.status_code == 422 and _locs(r) == [["body", "impressions", 1]], r.text
    assert read_event_log(state.events_dir).tables["orders"].num_rows == before
    ok = client.post("/v1/events", json={"orders": [order, {**order, "product_id": 4}]})
    assert ok.status_code == 200 and ok.json()["accepted"]["orders"] == 2


@pytest.mark.parametrize("path,body", [
    ("/v1/search", {"query": "大米"}),
    ("/v1/homepage", {}),
    ("/v1/rerank", {"surface": "homepage", "candidates": [1, 2]}),
])
@pytest.mark.parametrize("when", ["1999-12-31T23:59:59Z", "3000-01-01T00:00:00", "three days ahead"])
def test_a_request_time_outside_2000_to_tomorrow_is_a_422_naming_context_time(client, path, body, when):
    """The events' bound (one check, serving.schemas.bounded_epoch_ms): a request dated in
    year 3000 used to rank with every recency feature of the snapshot gone negative."""
    if when == "three days ahead":  # computed at run time: a collected value would differ between workers
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3 * 24 * 3600))
    r = client.post(path, json={**body, "context": {"time": when}})
    assert r.status_code == 422, r.text
    assert _locs(r) == [["body", "context", "time"]]
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3 * 3600))
    for fine in ("2026-08-15T09:00:00Z", "2026-08-15T09:00:00", soon):  # naive is UTC
        assert client.post(path, json={**body, "context": {"time": fine}}).status_code == 200


def _logged(client) -> dict[str, int]:
    """Rows per logged table, the exposures of earlier ranking requests flushed first (their
    background flush landing between two counts made the counts differ)."""
    client.app.state.shelfrank.exposures.flush()
    tables = read_event_log(client.app.state.shelfrank.events_dir).tables
    return {name: t.num_rows for name, t in tables.items()}


IMPRESSION = {"request_id": 900, "timestamp": 1788256800000, "user_id": 2, "surface": "homepage",
              "query_id": None, "product_id": 3, "position": 1, "variant": "default", "propensity": 1.0}


def test_a_click_or_cart_posted_twice_in_a_batch_is_a_422_and_nothing_is_logged(client):
    """Clicks and carts are unique on (request_id, product_id): a card is clicked or not. A
    frontend retry used to log the row twice and count it twice in every click count."""
    before = _logged(client)
    for table, row in (("clicks", {**CLICK, "request_id": 901}),
                       ("carts", {k: v for k, v in CLICK.items() if k != "position"})):
        later = {**row, "timestamp": row["timestamp"] + 1500}  # the retry, a moment later
        r = client.post("/v1/events", json={table: [row, {**row, "product_id": 4}, later]})
        assert r.status_code == 422 and _locs(r) == [["body", table, 2]], r.text
        assert "request_id, product_id" in r.text
    assert _logged(client) == before


@pytest.mark.parametrize("surface,query_id", [("search", None), ("homepage", 123), ("channel", 123)])
def test_an_impression_with_a_query_id_only_off_search_is_a_422(client, surface, query_id):
    """Training reads a search page's query from its impressions: a search card without
    one was featurised as if nothing was searched, a homepage card with one as a search."""
    r = client.post("/v1/events", json={"impressions": [{**IMPRESSION, "surface": surface,
                                                         "query_id": query_id}]})
    assert r.status_code == 422, r.text
    assert _locs(r) == [["body", "impressions", 0, "query_id"]]


@pytest.mark.parametrize("field,value", [("user_id", 5), ("surface", "channel")])
def test_impressions_of_one_page_that_disagree_on_who_or_where_are_a_422(client, field, value):
    page = [IMPRESSION, {**IMPRESSION, "product_id": 4, "position": 2, field: value}]
    r = client.post("/v1/events", json={"impressions": page})
    assert r.status_code == 422 and _locs(r) == [["body", "impressions", 1, field]], r.text
    assert "row 0 of the same request_id" in r.text


def test_clicks_and_orders_that_contradict_their_page_or_order_are_a_422(client):
    page = [IMPRESSION, {**IMPRESSION, "product_id": 4, "position": 2}]
    click = {"request_id": 900, "timestamp": 1788256800500, "user_id": 2, "product_id": 4, "position": 2}
    r = client.post("/v1/events", json={"impressions": page, "clicks": [{**click, "user_id": 5}]})
    assert r.status_code == 422 and _locs(r) == [["body", "clicks", 0, "user_id"]], r.text
    r = client.post("/v1/events", json={"impressions": page, "clicks": [{**click, "position": 1}]})
    assert r.status_code == 422 and _locs(r) == [["body", "clicks", 0, "position"]], r.text
    assert "at position 2" in r.text
    order = {"order_id": 901, "request_id": None, "timestamp": 1788256800000, "user_id": 2, "product_id": 3,
             "store_id": 22, "price_paid": 9.5, "quantity": 1, "cancelled": False}
    r = client.post("/v1/events", json={"orders": [order, {**order, "product_id": 4, "user_id": 6}]})
    assert r.status_code == 422 and _locs(r) == [["body", "orders", 1, "user_id"]], r.text
    # the page's own click, and a click whose page is not in the batch, are fine
    r = client.post("/v1/events", json={"impressions": page, "clicks": [click, {**click, "request_id": 902}]})
    assert r.status_code == 200, r.text


def test_an_order_line_credited_to_another_store_than_the_products_is_a_422(client, products):
    """The store scores count orders by the order's store_id: a wrong one credited (or
    blamed) another store. A listing never changes store, so the bundle's is the truth."""
    sold_by = dict(zip(products.product_id, products.store_id, strict=True))
    before = _logged(client)
    order = {"order_id": 902, "request_id": None, "timestamp": 1788256800000, "user_id": 2, "product_id": 7,
             "store_id": int(sold_by[7]) + 1, "price_paid": 9.5, "quantity": 1, "cancelled": False}
    r = client.post("/v1/events", json={"orders": [order]})
    assert r.status_code == 422 and _locs(r) == [["body", "orders", 0, "store_id"]], r.text
    assert f"sold by store {sold_by[7]}" in r.text
    assert _logged(client) == before
    right = {**order, "store_id": int(sold_by[7])}
    assert client.post("/v1/events", json={"orders": [right]}).status_code == 200


def test_an_unknown_product_or_user_is_refused_only_when_the_bundle_covers_the_events_time(client):
    """The bundle's catalog holds every product listed (and user signed up) before its
    snapshot: an id it lacks on an event of that period can only be wrong, and would have
    dropped out of every count. A later event may name a product newer than the bundle."""
    before = _logged(client)
    snapshot = client.app.state.shelfrank.engine.snapshot
    during = snapshot.as_of_ms - 10 * 24 * 3600 * 1000
    unknown = {"request_id": 903, "timestamp": during, "user_id": 2, "product_id": 10**12, "position": 1}
    r = client.post("/v1/events", json={"clicks": [unknown, {**unknown, "product_id": 3, "user_id": 10**12}]})
    assert r.status_code == 422, r.text
    assert _locs(r) == [["body", "clicks", 0, "product_id"], ["body", "clicks", 1, "user_id"]]
    assert _logged(client) == before
    now = int(time.time() * 1000)
    assert now > snapshot.as_of_ms + 2 * 24 * 3600 * 1000  # the test bundle's mall ended before today
    r = client.post("/v1/events", json={"clicks": [{**unknown, "timestamp": now}]})
    assert r.status_code == 200, r.text


def test_a_click_retried_in_a_later_batch_is_accepted_and_merged_once(client, small_mall, tmp_path):
    """The service cannot see earlier batches; merge-events keeps the first copy of a
    (request_id, product_id), so the retry (a moment later) is not a second click."""
    from ranking.contracts import read_table
    from training.data.event_import import merge_events

    click = {"request_id": 904, "timestamp": 1788256800000, "user_id": 2, "product_id": 5, "position": 3}
    for delay in (0, 1500):
        r = client.post("/v1/events", json={"clicks": [{**click, "timestamp": click["timestamp"] + delay}]})
        assert r.status_code == 200, r.text
    merge_events(small_mall, client.app.state.shelfrank.events_dir, tmp_path / "merged")
    merged = read_table(tmp_path / "merged", "clicks").to_pandas()
    mine = merged[(merged.request_id == 904) & (merged.product_id == 5)]
    assert len(mine) == 1 and mine.timestamp.iloc[0].value // 1_000_000 == click["timestamp"]


def test_a_search_in_traditional_chinese_gets_the_page_its_simplified_twin_gets(client):
    """The simulated catalog is written in simplified characters; a shopper typing
    traditional ones (Hong Kong, Taiwan) used to match only the characters both scripts
    share ("平板" of "平板電腦") and got another page."""
    twins = (("平板電腦", "平板电脑"), ("紙巾", "纸巾"), ("運動鞋 跑步", "运动鞋 跑步"))
    for traditional, simplified in twins:
        pages = []
        for q in (traditional, simplified):
            r = client.post("/v1/search", json={"query": q, "user_id": 2, "page_size": 20})
            assert r.status_code == 200, r.text
            pages.append([c["product_id"] for c in r.json()["cards"]])
        assert pages[0] == pages[1] and pages[0], traditional


def test_a_search_page_says_whether_any_card_holds_a_word_of_the_query(client):
    """``text_match`` tells the frontend whether some card's text holds the query's strongest
    word, so it need not scan every card's sources; a query no product holds gets a no-match
    notice, and its dense-only candidates below the relevance floor are dropped with that
    reason, never shown as if they matched. Other pages carry null."""
    matched = client.post("/v1/search", json={"query": "大米", "page_size": 10}).json()
    assert matched["text_match"] is True and matched["notice"] is None
    assert any("lexical" in c["sources"] for c in matched["cards"])
    assert matched["query_words"][0]["word"] == "大米" and matched["query_words"][0]["products"] > 0
    nothing = client.post("/v1/search", json={"query": "qxzvkw", "page_size": 10,
                                              "spell_correct": False}).json()
    assert nothing["text_match"] is False and nothing["notice"]["kind"] == "no_match"
    assert nothing["notice"]["unmatched"] == ["qxzvkw"]
    assert all(c["sources"] == ["dense"] and c["matched_words"] == [] for c in nothing["cards"])
    assert "below_relevance_floor" in {d["reason"] for d in nothing["dropped"]}
    home = client.post("/v1/homepage", json={"user_id": 2, "page_size": 5}).json()
    assert home["cards"] and home["text_match"] is None
    ids = [c["product_id"] for c in matched["cards"]]
    reranked = client.post("/v1/rerank", json={"surface": "search", "query": "大米",
                                               "candidates": ids}).json()
    assert reranked["text_match"] is None  # the caller's candidates: no recall provenance to read
