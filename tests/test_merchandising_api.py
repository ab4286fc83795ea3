"""Issue 28, STORE: the rules and synonyms API on one in-process service.

Create, list, read, edit, delete and the history of both kinds; the operator token only (none
401, a client's or a merchant's 403); a bad field a 422 naming it, a pin of an unknown, banned or
sold-out product a 422 naming it, the limits a 413 naming the setting, an unknown id a 404, and
nothing written on any refusal; every acknowledged change is a line of the log before the answer;
export then import (merge and replace) round trips; the book every ranking request carries.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ranking.features.snapshot import FeatureSnapshot
from ranking.settings import load_settings
from serving.app import create_app

OPERATOR = {"Authorization": "Bearer op-s3cret"}
CLIENT = {"Authorization": "Bearer web-s3cret"}
RICE = {"match": {"query": "大米"}, "action": {"pin": []}, "reason": "subsidised rice this morning"}
PHONE = {"terms": ["phone", "手机", "smartphone"], "one_way": False, "reason": "shoppers type phone"}


@pytest.fixture(scope="module")
def mall(small_models: Path, tmp_path_factory: pytest.TempPathFactory):
    """(client, events dir, two showable products, a banned one, a sold-out one)."""
    snap = FeatureSnapshot.load(small_models / "latest" / "snapshot")
    cols = snap.products.columns
    ok = snap.products.ids[(cols["banned"] == 0) & (cols["stock"] > 0)][:2].tolist()
    banned = int(snap.products.ids[cols["banned"] != 0][0])
    sold_out = int(snap.products.ids[(cols["stock"] <= 0) & (cols["banned"] == 0)][0])
    events = tmp_path_factory.mktemp("events")
    store = int(cols["store_id"][0])
    settings = load_settings([
        f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={events}",
        "serving.admin_token=op-s3cret", 'serving.client_tokens={"web": "web-s3cret"}',
        f'serving.merchant_tokens={{"{store}": "m-{store}"}}', "merchandising.max_rules=6",
        "merchandising.max_synonym_terms=12", "merchandising.max_item_bytes=2048"])
    with TestClient(create_app(settings)) as client:
        yield client, events, ok, banned, sold_out, {"Authorization": f"Bearer m-{store}"}


def _lines(events: Path, table: str) -> list[dict]:
    return [json.loads(line) for path in sorted((events / table).glob("*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]


def _rule(pins: list[int], **extra) -> dict:
    return {**RICE, "action": {"pin": pins}, **extra}


def test_a_rule_is_created_listed_read_edited_deleted_and_its_history_kept(mall):
    client, events, ok, *_ = mall
    r = client.post("/v1/rules", json=_rule(ok[:1], id="mine", author="someone"), headers=OPERATOR)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["id"].startswith("r-") and rule["id"] != "mine" and rule["author"] == "operator"
    assert rule["created_ms"] == rule["updated_ms"] > 0
    logged = _lines(events, "merch_rules")  # durable before the 201
    assert logged[-1]["id"] == rule["id"] and logged[-1]["op"] == "put" and logged[-1]["item"] == rule
    listed = client.get("/v1/rules", headers=OPERATOR).json()
    assert rule["id"] in [x["id"] for x in listed["rules"]] and listed["version"] >= 1
    assert client.get(f"/v1/rules/{rule['id']}", headers=OPERATOR).json() == rule

    edited = client.put(f"/v1/rules/{rule['id']}", json=_rule(ok, priority=5, reason="both now"),
                        headers=OPERATOR)
    assert edited.status_code == 200, edited.text
    after = edited.json()
    assert after["action"]["pin"] == ok and after["created_ms"] == rule["created_ms"]
    assert after["updated_ms"] >= rule["updated_ms"]
    gone = client.request("DELETE", f"/v1/rules/{rule['id']}", json={"reason": "campaign over"},
                          headers=OPERATOR)
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert client.get(f"/v1/rules/{rule['id']}", headers=OPERATOR).status_code == 404
    assert rule["id"] not in [x["id"] for x in client.get("/v1/rules", headers=OPERATOR).json()["rules"]]

    history = client.get(f"/v1/rules/{rule['id']}/history", headers=OPERATOR).json()["changes"]
    assert [c["op"] for c in history] == ["put", "put", "delete"]
    assert history[0]["before"] is None and history[0]["after"] == rule
    assert history[1]["before"] == rule and history[1]["after"] == after
    assert history[2]["before"] == after and history[2]["after"] is None
    assert history[2]["reason"] == "campaign over" and {c["author"] for c in history} == {"operator"}
    trail = client.get("/v1/merchandising/history", params={"since": rule["created_ms"], "kind": "rule"},
                       headers=OPERATOR).json()["changes"]
    assert [c["change"] for c in trail if c["id"] == rule["id"]] == [c["change"] for c in history]


def test_a_synonym_set_is_created_edited_deleted_with_its_history(mall):
    client, events, *_ = mall
    r = client.post("/v1/synonyms", json=PHONE, headers=OPERATOR)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert sid.startswith("s-") and r.json()["terms"] == PHONE["terms"]
    assert _lines(events, "merch_synonyms")[-1]["item"] == r.json()
    assert sid in [s["id"] for s in client.get("/v1/synonyms", headers=OPERATOR).json()["synonyms"]]
    one_way = {**PHONE, "terms": ["phone", "手机"], "one_way": True}
    put = client.put(f"/v1/synonyms/{sid}", json=one_way, headers=OPERATOR)
    assert put.status_code == 200 and put.json()["one_way"] is True, put.text
    assert client.request("DELETE", f"/v1/synonyms/{sid}", params={"reason": "replaced"},
                          headers=OPERATOR).status_code == 200
    ops = [c["op"] for c in client.get(f"/v1/synonyms/{sid}/history", headers=OPERATOR).json()["changes"]]
    assert ops == ["put", "put", "delete"]
    listed = client.get("/v1/synonyms", params={"include_history": True}, headers=OPERATOR).json()
    assert sid not in [s["id"] for s in listed["synonyms"]]


def test_only_the_operator_token_reads_or_writes(mall):
    client, events, ok, _, _, merchant = mall
    before = len(_lines(events, "merch_rules"))
    for method, path in (("GET", "/v1/rules"), ("POST", "/v1/rules"), ("GET", "/v1/synonyms"),
                         ("POST", "/v1/synonyms"), ("GET", "/v1/merchandising/export"),
                         ("POST", "/v1/merchandising/import"), ("DELETE", "/v1/rules/r-1")):
        body = _rule(ok[:1]) if method == "POST" else None
        assert client.request(method, path, json=body).status_code == 401, path
        for who in (CLIENT, merchant):
            assert client.request(method, path, json=body, headers=who).status_code == 403, (path, who)
    assert len(_lines(events, "merch_rules")) == before


def test_bad_input_is_a_422_naming_the_field_and_nothing_is_written(mall):
    client, events, ok, banned, sold_out, _ = mall
    before = len(_lines(events, "merch_rules"))
    bad = client.post("/v1/rules", json={**_rule(ok[:1]), "action": {"pin": ok[:1], "hide": ok[:1]}},
                      headers=OPERATOR)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "action"]
    no_reason = client.post("/v1/rules", json={k: v for k, v in _rule(ok[:1]).items() if k != "reason"},
                            headers=OPERATOR)
    assert no_reason.status_code == 422
    assert ["body", "reason"] in [d["loc"] for d in no_reason.json()["detail"]]
    naive = client.post("/v1/rules", json=_rule(ok[:1], schedule={"start": "2026-12-05T08:00:00"}),
                        headers=OPERATOR)
    assert naive.status_code == 422 and "time zone" in naive.text
    refused = client.post("/v1/rules", json=_rule([ok[0], banned, sold_out, 10**12]), headers=OPERATOR)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert all(d["loc"][:3] == ["body", "action", "pin"] for d in detail)
    said = " | ".join(d["msg"] for d in detail)  # each refused product named with its reason
    for pid, why in ((banned, "banned"), (sold_out, "sold out"), (10**12, "not in the")):
        assert any(f"product {pid} " in d["msg"] and why in d["msg"] for d in detail), said
    assert f"product {ok[0]} " not in said and len(detail) == 3
    assert client.post("/v1/synonyms", json={**PHONE, "terms": ["phone", "Phone"]},
                       headers=OPERATOR).status_code == 422
    nope = client.request("DELETE", "/v1/rules/r-nope", json={"reason": "x"}, headers=OPERATOR)
    assert nope.status_code == 404
    assert client.put("/v1/rules/r-nope", json=_rule(ok[:1]), headers=OPERATOR).status_code == 404
    assert client.get("/v1/rules/r-nope/history", headers=OPERATOR).status_code == 404
    rid = client.post("/v1/rules", json=_rule(ok[:1]), headers=OPERATOR).json()["id"]
    no_why = client.request("DELETE", f"/v1/rules/{rid}", headers=OPERATOR)
    assert no_why.status_code == 422 and "reason" in no_why.text
    assert client.get(f"/v1/rules/{rid}", headers=OPERATOR).status_code == 200
    assert len(_lines(events, "merch_rules")) == before + 1  # only the one good rule


def test_the_limits_are_a_413_naming_the_setting_and_nothing_is_written(mall):
    client, events, ok, *_ = mall
    held = len(client.get("/v1/rules", headers=OPERATOR).json()["rules"])
    for _ in range(6 - held):
        assert client.post("/v1/rules", json=_rule(ok[:1]), headers=OPERATOR).status_code == 201
    before = len(_lines(events, "merch_rules"))
    over = client.post("/v1/rules", json=_rule(ok[:1]), headers=OPERATOR)
    assert over.status_code == 413 and "merchandising.max_rules" in over.text
    big = client.post("/v1/synonyms", json={**PHONE, "terms": [f"w{i}" for i in range(13)]}, headers=OPERATOR)
    assert big.status_code == 413 and "merchandising.max_synonym_terms" in big.text
    huge = client.post("/v1/synonyms", json={**PHONE, "terms": ["a" * 180 + str(i) for i in range(14)]},
                       headers=OPERATOR)
    assert huge.status_code == 413 and "merchandising.max_item_bytes" in huge.text
    assert len(_lines(events, "merch_rules")) == before
    for rule in client.get("/v1/rules", headers=OPERATOR).json()["rules"]:  # leave room for the others
        client.request("DELETE", f"/v1/rules/{rule['id']}", params={"reason": "tidy"}, headers=OPERATOR)


def test_active_lists_only_the_rules_whose_schedule_holds_now(mall):
    client, _, ok, *_ = mall
    past = client.post("/v1/rules", json=_rule(ok[:1], schedule={"start": "2020-01-01T00:00:00+08:00",
                                                                "end": "2021-01-01T00:00:00+08:00"}),
                       headers=OPERATOR).json()["id"]
    now = client.post("/v1/rules", json=_rule(ok[:1], schedule={"start": "2020-01-01T00:00:00+08:00"}),
                      headers=OPERATOR).json()["id"]
    every = client.get("/v1/rules", params={"include_history": True}, headers=OPERATOR).json()
    assert {past, now} <= {r["id"] for r in every["rules"]} and len(every["history"][past]) == 1
    listed = client.get("/v1/rules", params={"active": True}, headers=OPERATOR).json()["rules"]
    active = {r["id"] for r in listed}
    assert now in active and past not in active
    for rid in (past, now):
        client.request("DELETE", f"/v1/rules/{rid}", params={"reason": "tidy"}, headers=OPERATOR)


def test_export_then_import_round_trips_and_replace_deletes_the_rest(mall):
    client, events, ok, banned, *_ = mall
    kept = client.post("/v1/rules", json=_rule(ok[:1], priority=3), headers=OPERATOR).json()
    syn = client.post("/v1/synonyms", json=PHONE, headers=OPERATOR).json()
    exported = client.get("/v1/merchandising/export", headers=OPERATOR).json()
    assert exported["format"] == 1 and kept in exported["rules"] and syn in exported["synonyms"]
    assert client.get("/v1/merchandising/export", headers=OPERATOR).json() == exported  # stable

    lines = len(_lines(events, "merch_rules")) + len(_lines(events, "merch_synonyms"))
    again = client.post("/v1/merchandising/import", json=exported, headers=OPERATOR).json()
    assert again["rules"] == again["synonyms"] == again["deleted"] == 0  # unchanged: nothing written
    assert len(_lines(events, "merch_rules")) + len(_lines(events, "merch_synonyms")) == lines

    extra = client.post("/v1/rules", json=_rule(ok[1:2]), headers=OPERATOR).json()
    bad = {**exported, "rules": [*exported["rules"], {**kept, "id": "s-wrong"}, _rule([banned])]}
    refused = client.post("/v1/merchandising/import", params={"mode": "replace"}, json=bad, headers=OPERATOR)
    assert refused.status_code == 422
    locs = {tuple(d["loc"][:4]) for d in refused.json()["detail"]}
    n = len(exported["rules"])
    assert locs == {("body", "rules", n, "id"), ("body", "rules", n + 1, "action")}
    assert client.get(f"/v1/rules/{extra['id']}", headers=OPERATOR).status_code == 200  # nothing written

    edited = {**exported, "rules": [{**kept, "priority": 9}]}
    done = client.post("/v1/merchandising/import", params={"mode": "replace"}, json=edited, headers=OPERATOR)
    assert done.status_code == 200, done.text
    assert done.json() == {"mode": "replace", "rules": 1, "synonyms": 0, "deleted": 1,
                           "version": done.json()["version"]}
    now = client.get("/v1/merchandising/export", headers=OPERATOR).json()
    assert [r["id"] for r in now["rules"]] == [kept["id"]] and now["rules"][0]["priority"] == 9
    assert now["rules"][0]["created_ms"] == kept["created_ms"] and now["synonyms"] == exported["synonyms"]
    assert client.post("/v1/merchandising/import", params={"mode": "wipe"}, json=edited,
                       headers=OPERATOR).status_code == 422


def test_a_ranking_request_carries_the_book_in_force(mall, monkeypatch):
    from serving.routes import ranking

    client, _, ok, *_ = mall
    seen = []
    real = ranking.serve_page
    def spy(state, pipeline, request, *rest):
        seen.append(request.merchandising)
        return real(state, pipeline, request, *rest)

    monkeypatch.setattr(ranking, "serve_page", spy)
    rule = _rule(ok[:1], match={"query": "一个新词"})
    rid = client.post("/v1/rules", json=rule, headers=OPERATOR).json()["id"]
    assert client.post("/v1/search", json={"query": "大米", "page_size": 5}).status_code == 200
    assert rid in [r.id for r in seen[-1].rules]
    assert seen[-1] is client.app.state.shelfrank.merchandising.book


def test_only_the_import_may_pass_serving_max_body_bytes_up_to_its_own_limit():
    settings = load_settings(["serving.max_body_bytes=2048", "merchandising.max_import_bytes=8192",
                              "serving.admin_token=op-s3cret"])
    client = TestClient(create_app(settings, load=False))  # no lifespan: the routes answer 503
    file = {"rules": [], "synonyms": [{**PHONE, "terms": [f"w{i:02d}" * 20, "x"]} for i in range(20)]}
    size = len(json.dumps(file))
    assert 2048 < size < 8192
    assert client.post("/v1/merchandising/import", json=file, headers=OPERATOR).status_code == 503
    bigger = {**file, "synonyms": file["synonyms"] * 4}
    assert len(json.dumps(bigger)) > 8192
    over = client.post("/v1/merchandising/import", json=bigger, headers=OPERATOR)
    assert over.status_code == 413 and "merchandising.max_import_bytes" in over.text
    elsewhere = client.post("/v1/synonyms", json={**PHONE, "terms": [f"w{i:02d}" * 20 for i in range(40)]},
                            headers=OPERATOR)
    assert elsewhere.status_code == 413 and "serving.max_body_bytes" in elsewhere.text


def test_a_log_that_cannot_be_written_is_a_503_and_nothing_is_served(small_models: Path, tmp_path: Path):
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}",
                              "serving.admin_token=op-s3cret", "serving.events_min_free_mb=1000000000"])
    with TestClient(create_app(settings)) as client:  # free space always under the watermark
        r = client.post("/v1/synonyms", json=PHONE, headers=OPERATOR)
        assert r.status_code == 503 and "nothing was written" in r.text and r.headers["Retry-After"]
        assert client.get("/v1/synonyms", headers=OPERATOR).json() == {"version": 0, "synonyms": []}
    assert not list(tmp_path.glob("merch_*/*.jsonl")) or not any(
        p.read_text() for p in tmp_path.glob("merch_*/*.jsonl"))
