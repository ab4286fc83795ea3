"""Issue 28, STORE: the change lines folded into the book, and the follower over the log and Redis.

Folding converges: a line delivered twice folds once, lines in any order give the same book
(last writer by ``changed_ms`` wins), a delete removes the item and keeps its history with the
item before and after each change; the follower replays a log from its start, picks up lines
appended since, and with the Redis backend's stream (a real redis-server) folds another host's
changes while a line read from both the log and the stream counts once.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest

from ranking.event_log import EventLog
from ranking.live.catalog_feed import LogCatalogFeed, RedisCatalogFeed, push_catalog_rows
from ranking.live.merch_follower import MERCH_STREAM, MerchFollower
from ranking.merchandising.changes import DELETE, MERCH_RULES, MERCH_SYNONYMS, MERCH_TABLES, PUT, change_line
from ranking.merchandising.in_force import schedule_holds
from ranking.merchandising.rule import RuleSchedule
from ranking.merchandising.state import MerchandisingState


def _rule(rid: str, query: str, at: int) -> dict:
    return {"match": {"query": query}, "action": {"pin": [1, 2]}, "reason": "r", "id": rid,
            "author": "operator", "created_ms": at, "updated_ms": at}


def _put(rid: str, query: str, at: int) -> tuple[str, dict]:
    return MERCH_RULES, change_line(PUT, rid, _rule(rid, query, at), "operator", "r", at)


def test_lines_in_any_order_and_twice_fold_into_one_book():
    lines = [_put("r-a", "大米", 1000), _put("r-a", "小米", 2000), _put("r-b", "牛奶", 1500),
             (MERCH_RULES, change_line(DELETE, "r-b", None, "operator", "over", 3000)),
             (MERCH_SYNONYMS, change_line(PUT, "s-a", {"terms": ["phone", "手机"], "reason": "x", "id": "s-a",
                                                       "created_ms": 900}, "operator", "x", 900))]
    books = []
    for seed in range(5):
        shuffled = lines * 2
        random.Random(seed).shuffle(shuffled)
        state = MerchandisingState()
        assert state.fold(shuffled) == len(lines)
        books.append(state.book)
    assert all(b == books[0] for b in books)
    book = books[0]
    assert [r.id for r in book.rules] == ["r-a"] and book.rules[0].match.query == "小米"
    assert [s.id for s in book.synonyms] == ["s-a"] and book.version == len(lines)


def _synonym(sid: str, at: int) -> tuple[str, dict]:
    item = {"terms": ["phone", "手机"], "reason": "x", "id": sid, "created_ms": at}
    return MERCH_SYNONYMS, change_line(PUT, sid, item, "operator", "x", at)


def test_a_change_of_one_kind_hands_the_other_kinds_built_index_on():
    state = MerchandisingState()
    state.fold([_put("r-a", "大米", 1000), _synonym("s-a", 900)])
    first = state.book
    rules, synonyms = first.rule_index, first.synonym_index  # built, as the follower does
    state.fold([_put("r-b", "牛奶", 2000)])
    assert state.book.synonyms is first.synonyms and state.book.synonym_index is synonyms
    assert state.book.rule_index is not rules and len(state.book.rule_index) == 2
    second = state.book.rule_index
    state.fold([_synonym("s-b", 3000)])
    assert state.book.rule_index is second, "a synonym change keeps the rules' index"
    assert state.book.synonym_index is not synonyms and len(state.book.synonyms) == 2


def test_history_keeps_each_change_with_the_item_before_and_after():
    state = MerchandisingState()
    first, second = _put("r-a", "大米", 1000), _put("r-a", "小米", 2000)
    gone = (MERCH_RULES, change_line(DELETE, "r-a", None, "operator", "campaign over", 3000))
    state.fold([gone, second, first])
    history = state.history("r-a")
    assert [h["op"] for h in history] == ["put", "put", "delete"]
    assert history[0]["before"] is None and history[1]["before"] == first[1]["item"]
    assert history[2]["before"] == second[1]["item"] and history[2]["after"] is None
    assert history[2]["reason"] == "campaign over" and state.get("r-a") is None and not state.book
    assert [h["changed_ms"] for h in state.changes_since(2000)] == [2000, 3000]
    assert state.changes_since(0, "synonym") == []


def test_a_line_the_contract_now_refuses_is_kept_in_history_but_not_served():
    state = MerchandisingState()
    bad = change_line(PUT, "r-x", {"match": {}, "action": {"pin": [1]}, "reason": "r"}, "operator", "r", 5)
    assert state.fold([(MERCH_RULES, bad)]) == 1
    assert state.bad_lines == 1 and state.get("r-x") is None and len(state.history("r-x")) == 1


@pytest.mark.parametrize(("hours", "slots", "hour", "holds"), [
    ([8, 12], None, 8, True), ([8, 12], None, 12, False), ([22, 2], None, 1, True),
    ([22, 2], None, 21, False),
    (None, ["morning"], 6, True), (None, ["morning"], 12, False), (None, None, 3, True)])
def test_a_schedule_holds_inside_its_hours_or_slots(hours, slots, hour, holds):
    assert schedule_holds(RuleSchedule(hours=hours, slots=slots), 0, hour) is holds


def test_a_schedule_holds_from_start_until_before_end():
    schedule = RuleSchedule(start="2026-12-05T08:00:00+08:00", end="2026-12-05T12:00:00+08:00")
    start = int(schedule.start.timestamp() * 1000)
    end = int(schedule.end.timestamp() * 1000)
    held = [schedule_holds(schedule, t, 9) for t in (start - 1, start, end - 1, end)]
    assert held == [False, True, True, False]


def test_the_follower_replays_the_log_then_follows_it(tmp_path: Path):
    log = EventLog(tmp_path)
    log.append({MERCH_RULES: [_put("r-a", "大米", 1000)[1]]}, client="operator")
    follower = MerchFollower([LogCatalogFeed(tmp_path, MERCH_TABLES)], poll_ms=50)
    assert follower.start() == 1 and [r.id for r in follower.book.rules] == ["r-a"]
    before = follower.book
    log.append({MERCH_RULES: [_put("r-b", "牛奶", 2000)[1]]}, client="operator")
    assert follower.catch_up() == 1
    assert [r.id for r in follower.book.rules] == ["r-a", "r-b"] and before.version == 1  # a new book
    follower.stop()



def test_a_poll_with_no_change_keeps_the_book_and_what_its_index_kept(tmp_path: Path):
    """A repeating page's rules in force stay kept (``RuleIndex.kept``) through the follower's
    polls: one that reads nothing new, or only a line folded before (delivered again), keeps the
    book object; a change publishes a new book, whose index matches afresh."""
    from rules_mall import rules_request

    from ranking.merchandising.in_force import rules_in_force

    log = EventLog(tmp_path)
    line = _put("r-a", "大米", 1000)[1]
    log.append({MERCH_RULES: [line]}, client="operator")
    follower = MerchFollower([LogCatalogFeed(tmp_path, MERCH_TABLES)], poll_ms=50)
    follower.catch_up()
    book = follower.book
    found = rules_in_force(rules_request(query="大米", now_ms=5000, merchandising=book))
    assert [r.id for r in found.rules] == ["r-a"] and len(book.rule_index.kept) == 1
    log.append({MERCH_RULES: [line]}, client="other")  # the same change again: folded once already
    for _ in range(3):
        assert follower.catch_up() == 0
    assert follower.book is book and len(book.rule_index.kept) == 1
    log.append({MERCH_RULES: [_put("r-b", "大米", 2000)[1]]}, client="operator")
    assert follower.catch_up() == 1 and follower.book is not book
    assert not len(follower.book.rule_index.kept)  # matched afresh under the new rules
    found = rules_in_force(rules_request(query="大米", now_ms=5000, merchandising=follower.book))
    assert sorted(r.id for r in found.rules) == ["r-a", "r-b"]
    follower.stop()

def test_the_follower_folds_another_hosts_lines_from_the_redis_stream_once(tmp_path: Path, redis_url: str):
    import redis

    client = redis.Redis.from_url(redis_url)
    prefix = f"merch-{uuid.uuid4().hex[:8]}:"
    mine = _put("r-mine", "大米", 1000)
    EventLog(tmp_path).append({MERCH_RULES: [mine[1]]}, client="operator")
    theirs = _put("r-theirs", "牛奶", 2000)
    push_catalog_rows(client, redis_url, prefix, [mine, theirs], 0, MERCH_STREAM)  # this host's applier too
    stream = RedisCatalogFeed(client, redis_url, prefix, MERCH_STREAM)
    feeds = [LogCatalogFeed(tmp_path, MERCH_TABLES), stream]
    follower = MerchFollower(feeds, poll_ms=50)
    assert follower.catch_up() == 2 and follower.book.version == 2
    assert [r.id for r in follower.book.rules] == ["r-mine", "r-theirs"]
    assert client.xlen(f"{prefix}{MERCH_STREAM}") == 1 and not client.exists(f"{prefix}catalog")
    follower.stop()


@pytest.mark.parametrize("index", ["rule_index", "synonym_index"])
def test_a_new_book_is_published_with_its_indexes_built(tmp_path: Path, index: str):
    pytest.importorskip(f"ranking.merchandising.{index}", reason=f"ranking.merchandising.{index} comes with "
                        "the RULES / SYN parts of issue 28, not merged on this branch yet")
    EventLog(tmp_path).append({MERCH_RULES: [_put("r-a", "大米", 1000)[1]]}, client="operator")
    follower = MerchFollower([LogCatalogFeed(tmp_path, MERCH_TABLES)], poll_ms=50)
    follower.catch_up()
    assert index in vars(follower.book)  # built before any request asked for it


def test_redis_down_does_not_stop_this_hosts_changes_reaching_the_book(tmp_path: Path):
    import redis
    from redis_server import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = redis.Redis.from_url(dead, socket_connect_timeout=0.2, socket_timeout=0.2)
    EventLog(tmp_path).append({MERCH_RULES: [_put("r-a", "大米", 1000)[1]]}, client="operator")
    feeds = [LogCatalogFeed(tmp_path, MERCH_TABLES), RedisCatalogFeed(client, dead, "x:", MERCH_STREAM)]
    follower = MerchFollower(feeds, poll_ms=50)
    assert follower.catch_up() == 1 and [r.id for r in follower.book.rules] == ["r-a"]
    assert follower.failures == 1
    follower.stop()
