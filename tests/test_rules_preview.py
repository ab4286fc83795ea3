"""The operator's preview (``POST /v1/rules/preview``): one shopper request ranked with the rules
in force and with a draft, same request id and seed; operator token only; a bad draft or a bad
shopper body is a 422 naming the field; nothing it ranks reaches the exposure log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.rule import Rule
from ranking.merchandising.synonym import Synonym
from ranking.settings import load_settings
from serving.app import create_app
from serving.console_schemas import PreviewRequest
from serving.merchandising_preview import DRAFT_ID, draft_book, moved

OPERATOR = {"Authorization": "Bearer s3cret"}
PIN = {"match": {"query": "大米"}, "action": {"pin": [5]}, "reason": "subsidised rice"}


def _rule(id: str, pin: int) -> Rule:
    return Rule.model_validate({**PIN, "action": {"pin": [pin]}, "id": id})


@pytest.fixture(scope="module")
def served(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    events = tmp_path_factory.mktemp("events")
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={events}",
                              "serving.admin_token=s3cret"])
    with TestClient(create_app(settings)) as client:
        yield client, events


def _preview(client: TestClient, body: dict, headers: dict = OPERATOR):
    return client.post("/v1/rules/preview", json=body, headers=headers)


def _a_search(client: TestClient) -> dict:
    """A search body whose page has cards (a word of the first card's title of a homepage); an
    anonymous shopper's, so the live state's per-shopper filters (cards shown often and never
    clicked leave that shopper's pages) do not change the page as the test repeats it."""
    home = client.post("/v1/homepage", json={"user_id": 1, "page_size": 5}).json()
    title = home["cards"][0]["title"]
    return {"query": title.split()[0] if " " in title else title[:2], "page_size": 10}


def test_without_a_draft_both_pages_are_the_same_request(served):
    client, _ = served
    for surface, request in (("search", _a_search(client)), ("homepage", {"user_id": 3, "page_size": 10})):
        r = _preview(client, {"surface": surface, "request": request})
        assert r.status_code == 200, r.text
        out = r.json()
        a, b = out["without_draft"], out["with_draft"]
        assert a["request_id"] == b["request_id"]
        assert [c["product_id"] for c in a["cards"]] == [c["product_id"] for c in b["cards"]]
        assert len(a["cards"]) == 10 and out["moved"] == []
        assert all("explanation" in c for c in a["cards"] + b["cards"])  # both explained


def test_a_draft_is_ranked_and_a_rule_id_left_out_is_accepted(served):
    client, _ = served
    search = _a_search(client)
    r = _preview(client, {"surface": "search", "request": search,
                          "draft": {**PIN, "match": {"query": search["query"]}}, "without": ["r-1"]})
    assert r.status_code == 200, r.text
    assert len(r.json()["with_draft"]["cards"]) > 0


def test_only_the_operator_token_previews(served):
    client, _ = served
    body = {"surface": "homepage", "request": {"user_id": 3}}
    assert _preview(client, body, headers={}).status_code == 401
    assert _preview(client, body, headers={"Authorization": "Bearer nope"}).status_code == 403


@pytest.mark.parametrize(("body", "loc"), [
    ({"surface": "search", "request": {"query": "大米"},
      "draft": {"match": {"query": "大米"}, "action": {"pin": [1], "hide": [2]}, "reason": "x"}},
     ["body", "draft", "action"]),
    ({"surface": "search", "request": {"query": "大米"}, "draft": {"match": {}, "action": {"pin": [1]},
                                                                   "reason": "x"}},
     ["body", "draft", "match"]),
    ({"surface": "search", "request": {"query": "大米"},
      "draft": {"match": {"query": "大米"}, "action": {"pin": [1]}, "reason": "x",
                "schedule": {"start": "2026-12-05T08:00:00+08:00", "end": "2026-12-05T07:00:00+08:00"}}},
     ["body", "draft", "schedule"]),
    ({"surface": "search", "request": {"query": "大米"},
      "draft_synonym": {"terms": ["phone"], "reason": "x"}},
     ["body", "draft_synonym", "terms"]),
    ({"surface": "search", "request": {"query": "大米", "page_size": 0}}, ["body", "request", "page_size"]),
    ({"surface": "search", "request": {"query": "大米", "page_size": 100000}},
     ["body", "request", "page_size"]),
    ({"surface": "search", "request": {"user_id": 3}}, ["body", "request", "query"]),
    ({"surface": "search", "request": {"query": "!!!"}}, ["body", "request", "query"]),
    ({"surface": "homepage", "request": {"user_id": 3, "subsidy_slots": [50]}},
     ["body", "request", "subsidy_slots"]),
    ({"surface": "rerank", "request": {}}, ["body", "surface"]),
])
def test_a_bad_draft_or_request_is_a_422_naming_the_field(served, body, loc):
    client, _ = served
    r = _preview(client, body)
    assert r.status_code == 422, r.text
    assert any(e["loc"][:len(loc)] == loc for e in r.json()["detail"]), r.json()


def _exposure_lines(events: Path) -> int:
    return sum(p.read_text().count("\n") for p in (events / "exposures").glob("*.jsonl"))


def _lines_through(client: TestClient, events: Path) -> int:
    """Post a shopper's homepage and return the exposure lines once its own line is on disk: the
    buffer (flushed every half second) writes lines in the order the pages were served, so every
    line before it is there too, however late a loaded machine flushes."""
    request_id = client.post("/v1/homepage", json={"user_id": 4}).json()["request_id"]
    marker = f'"request_id":{request_id},'.encode()
    deadline = time.monotonic() + 15
    while not any(marker in p.read_bytes() for p in (events / "exposures").glob("*.jsonl")):
        assert time.monotonic() < deadline, "the homepage's exposure line was never written"
        time.sleep(0.05)
    return _exposure_lines(events)


def test_a_preview_logs_no_exposure(served):
    client, events = served
    before = _lines_through(client, events)  # the earlier tests' pages and one homepage written
    for _ in range(3):
        assert _preview(client, {"surface": "homepage", "request": {"user_id": 4}}).status_code == 200
    assert _lines_through(client, events) - before == 1  # the second homepage only


def test_the_console_page_is_served(served):
    client, _ = served
    r = client.get("/console")
    assert r.status_code == 200 and "console.js" in r.text
    assert client.get("/static/console.js").status_code == 200


def test_the_draft_book_adds_the_draft_and_leaves_out_the_ids():
    book = MerchandisingBook(rules=(_rule("a", 1), _rule("b", 2)),
                             synonyms=(Synonym(terms=["x", "y"], reason="r", id="s"),), version=4)
    body = PreviewRequest(surface="search", request={"query": "q"}, draft=Rule.model_validate(PIN),
                          draft_synonym=Synonym(terms=["phone", "手机"], reason="r"), without=["a", "s"])
    out = draft_book(book, body)
    assert [r.id for r in out.rules] == ["b", DRAFT_ID]
    assert [s.id for s in out.synonyms] == [DRAFT_ID]
    assert out.synonyms[0].terms == ["phone", "手机"]
    # an edit's preview: the draft of a stored id replaces that rule
    edit = PreviewRequest(surface="search", request={"query": "q"}, draft=_rule("b", 9))
    assert [(r.id, r.action.pin) for r in draft_book(book, edit).rules] == [("a", [1]), ("b", [9])]
    assert draft_book(book, PreviewRequest(surface="search", request={})) == book


def test_moved_lists_every_changed_position_in_the_draft_pages_order():
    def cards(*ids):
        return [{"product_id": p, "position": i + 1, "title": f"t{p}"} for i, p in enumerate(ids)]

    assert moved(cards(1, 2, 3), cards(1, 2, 3)) == []
    assert moved(cards(1, 2, 3), cards(3, 1, 4)) == [
        {"product_id": 3, "title": "t3", "before": 3, "after": 1},
        {"product_id": 1, "title": "t1", "before": 1, "after": 2},
        {"product_id": 4, "title": "t4", "before": None, "after": 3},
        {"product_id": 2, "title": "t2", "before": 2, "after": None},
    ]


def test_a_pin_draft_puts_the_product_first_only_on_the_draft_page(served):
    client, _ = served
    search = _a_search(client)
    r = _preview(client, {"surface": "search", "request": search})
    cards = [c["product_id"] for c in r.json()["without_draft"]["cards"]]
    pinned = cards[4]
    draft = {"match": {"query": search["query"]}, "action": {"pin": [pinned]}, "reason": "pin the fifth"}
    out = _preview(client, {"surface": "search", "request": search, "draft": draft}).json()
    without = [c["product_id"] for c in out["without_draft"]["cards"]]
    with_draft = out["with_draft"]["cards"]
    assert with_draft[0]["product_id"] == pinned and without[0] != pinned
    assert out["with_draft"]["rules_applied"] == [DRAFT_ID] and out["without_draft"]["rules_applied"] == []
    notes = with_draft[0]["explanation"]["rules"]
    assert any(n["rule"] == "merch_pin" and n.get("rule_id") == DRAFT_ID for n in notes), notes
    assert {"product_id": pinned, "title": with_draft[0]["title"], "before": without.index(pinned) + 1,
            "after": 1} in out["moved"]


def test_a_hide_draft_removes_the_card_and_says_where_it_was(served):
    client, _ = served
    home = {"user_id": 5, "page_size": 10}
    first = _preview(client, {"surface": "homepage", "request": home}).json()["without_draft"]["cards"][0]
    draft = {"match": {"homepage": True}, "action": {"hide": [first["product_id"]]}, "reason": "under review"}
    out = _preview(client, {"surface": "homepage", "request": home, "draft": draft}).json()
    before = [c["product_id"] for c in out["without_draft"]["cards"]]
    assert first["product_id"] not in [c["product_id"] for c in out["with_draft"]["cards"]]
    assert {"product_id": first["product_id"], "title": first["title"],
            "before": before.index(first["product_id"]) + 1, "after": None} in out["moved"]
    assert any(d["product_id"] == first["product_id"] and DRAFT_ID in d["reason"]
               for d in out["with_draft"]["dropped"]), out["with_draft"]["dropped"]


def test_a_draft_that_could_never_act_says_why_before_it_is_saved(served):
    client, _ = served
    draft = {"match": {"homepage": True}, "action": {"pin": [987654321]}, "reason": "a typo'd product id"}
    out = _preview(client, {"surface": "homepage", "request": {"user_id": 6}, "draft": draft}).json()
    assert out["draft_problems"] and "987654321" in out["draft_problems"][0], out["draft_problems"]
    # the page itself says the pin was not kept
    assert any(d["product_id"] == 987654321 and d["reason"].startswith(f"rule_pin:{DRAFT_ID}:")
               for d in out["with_draft"]["dropped"]), out["with_draft"]["dropped"]
    ok = _preview(client, {"surface": "homepage", "request": {"user_id": 6}}).json()
    assert ok["draft_problems"] == []


def test_the_preview_ranks_with_the_stored_rules_without_the_listed_ids_and_an_edit(served):
    client, _ = served
    search = _a_search(client)
    cards = [c["product_id"] for c in _preview(client, {"surface": "search", "request": search})
             .json()["without_draft"]["cards"]]
    stored = {"match": {"query": search["query"]}, "action": {"pin": [cards[3]]}, "reason": "stored pin"}
    r = client.post("/v1/rules", json=stored, headers=OPERATOR)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    try:
        deadline = time.monotonic() + 15  # the book reaches every worker within a second (a loaded
        # machine's slower poll is no failure here: tests/test_merchandising_service.py holds the second)
        while client.post("/v1/search", json=search).json()["cards"][0]["product_id"] != cards[3]:
            assert time.monotonic() < deadline, "the stored rule never reached the shopper's page"
            time.sleep(0.1)
        out = _preview(client, {"surface": "search", "request": search, "without": [rule_id]}).json()
        assert out["without_draft"]["cards"][0]["product_id"] == cards[3]
        assert out["without_draft"]["rules_applied"] == [rule_id] and out["with_draft"]["rules_applied"] == []
        assert any(m["product_id"] == cards[3] and m["before"] == 1 and m["after"] != 1 for m in out["moved"])
        # an edit's preview: the draft carries the stored rule's id and replaces it
        edit = {**stored, "action": {"pin": [cards[6]]}, "id": rule_id}
        out = _preview(client, {"surface": "search", "request": search, "draft": edit}).json()
        assert out["with_draft"]["cards"][0]["product_id"] == cards[6]
        assert out["with_draft"]["rules_applied"] == [rule_id]
    finally:
        gone = client.delete(f"/v1/rules/{rule_id}", params={"reason": "test over"}, headers=OPERATOR)
        assert gone.status_code == 200, gone.text


def test_a_draft_synonym_set_is_ranked_into_the_draft_page(served):
    """The draft set rides in the draft book (what recall reads of it is the synonym part's)."""
    client, _ = served
    body = {"surface": "search", "request": {"query": "phone", "page_size": 10},
            "draft_synonym": {"terms": ["phone", "手机", "smartphone"], "one_way": True, "reason": "typed"}}
    r = _preview(client, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["without_draft"]["request_id"] == out["with_draft"]["request_id"]
    assert out["draft_problems"] == []  # a synonym set is not a rule: nothing to check against pins
