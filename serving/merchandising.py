"""The operator's rules and synonyms inside the service: followed, checked, written durably.

:func:`start_merchandising` builds a :class:`~ranking.live.merch_follower.MerchFollower` over
this host's event log (and, with the Redis backend, the stream every host's applier feeds),
folds every change so far before the worker takes traffic (the replay), then follows every
``live.poll_ms``. It is kept on ``ServiceState.merchandising``; :func:`current_book` is what a
ranking request carries (``RankRequest.merchandising``: None while there is no rule and no
synonym). After each poll its thread has every served engine's search index hold the book's
synonym terms (:func:`synonym_terms_keeper`, :mod:`ranking.recall.held_terms`), once per book or
index change, so no first-time query computes them.

:func:`write_changes` is the one path of every rule and synonym write: the limits
(``merchandising.*``: 413 naming the limit), one append with an fsync of every line (503 when the
log cannot be written; nothing is acknowledged that is not durable), then the fold on this
worker before it answers, so its next page already shows the change. :func:`rule_refusals` is
the one place a rule is checked against the served catalog (a 422 naming each problem).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import HTTPException

from ranking.event_log import EventLogUnavailableError
from ranking.live.catalog_feed import LogCatalogFeed
from ranking.live.merch_follower import MerchFollower
from ranking.merchandising.book import MerchandisingBook
from ranking.merchandising.changes import DELETE, MERCH_RULES, MERCH_TABLES
from ranking.merchandising.problems import rule_problems
from ranking.merchandising.rule import Rule
from serving.routes.events import unavailable_reason
from serving.state import ServiceState, router_engines

log = logging.getLogger("shelfrank.merchandising")
IMPORT_PATH = "/v1/merchandising/import"  # its body may be merchandising.max_import_bytes


def start_merchandising(state: ServiceState) -> None:
    """Open the feeds, fold every change so far and follow (blocking: run off the event loop)."""
    feeds: list[Any] = [LogCatalogFeed(state.events_dir, MERCH_TABLES)]
    remote = state.live.merch_feed() if state.live is not None else None
    if remote is not None:
        feeds.append(remote)
    follower = MerchFollower(feeds, state.settings.live.poll_ms, keep_warm=synonym_terms_keeper(state))
    started = time.perf_counter()
    lines = follower.start()
    log.info("merchandising: %d change lines replayed in %.2f s (%d rules, %d synonym sets)", lines,
             time.perf_counter() - started, len(follower.book.rules), len(follower.book.synonyms))
    state.merchandising = follower


def synonym_terms_keeper(state: ServiceState) -> Callable[[MerchandisingBook, Callable[[], bool]], None]:
    """The follower's hook: each served engine's search index holds the terms of ``book``'s
    synonym sets (``merchandising.synonym_terms_held_mb``, ``synonym_terms_slice_ms``); a book
    without synonyms drops them. An index already holding them returns at once (every poll)."""

    def keep(book: MerchandisingBook, current: Callable[[], bool]) -> None:
        s = state.settings.merchandising
        index = book.synonym_index if book and book.synonyms else None
        for engine in router_engines(state.router):
            matcher = getattr(getattr(engine, "search", None), "query_words", None)
            if matcher is not None and current():
                matcher.hold_book_terms(index, s, current)

    return keep


def stop_merchandising(state: ServiceState) -> None:
    if state.merchandising is not None:
        state.merchandising.stop()
        state.merchandising = None


def current_book(state: ServiceState) -> MerchandisingBook | None:
    """The book a ranking request carries now: None while no rule or synonym is in force."""
    follower = state.merchandising
    return follower.book if follower is not None and follower.book else None


def follower_of(state: ServiceState) -> MerchFollower:
    if state.merchandising is None:
        raise HTTPException(503, detail="merchandising is not running on this worker",
                            headers={"Retry-After": "5"})
    return state.merchandising


def item_json(item: Any) -> dict:
    """A rule's or synonym set's JSON as stored, logged and exported."""
    return item.model_dump(mode="json", exclude_none=True)


def rule_refusals(rule: Rule, served: Any) -> list[dict]:
    """422 details for what ``rule`` could never do on the served catalog
    (:func:`~ranking.merchandising.problems.rule_problems`: a pin of an unknown, banned or
    sold-out product, more pins than a page places, a filter or hide that empties a page, a
    target or redirect naming nothing), each at the rule's action."""
    return [{"loc": ["body", "action", rule.action.kind], "msg": msg, "type": "value_error"}
            for msg in rule_problems(rule, served, served.settings.merchandising)]


def check_limits(book: MerchandisingBook, lines: list[tuple[str, dict]], state: ServiceState) -> None:
    """413 naming the limit when the book after ``lines`` would hold too many rules, synonym sets
    or synonym terms, or one item is over ``merchandising.max_item_bytes``."""
    limits = state.settings.merchandising
    rules = {r.id for r in book.rules}
    synonyms = {s.id: len(s.terms) for s in book.synonyms}
    for table, line in lines:
        size = len(orjson.dumps(line["item"])) if line["item"] is not None else 0
        if size > limits.max_item_bytes:
            raise HTTPException(413, detail=f"{line['id']} is {size} bytes of JSON: at most "
                                            f"{limits.max_item_bytes} (merchandising.max_item_bytes)")
        held = rules if table == MERCH_RULES else synonyms
        if line["op"] == DELETE:
            held.discard(line["id"]) if isinstance(held, set) else held.pop(line["id"], None)
        elif isinstance(held, set):
            held.add(line["id"])
        else:
            held[line["id"]] = len(line["item"]["terms"])
    counts = (("rules", len(rules), limits.max_rules, "merchandising.max_rules"),
              ("synonym sets", len(synonyms), limits.max_synonym_sets, "merchandising.max_synonym_sets"),
              ("synonym terms", sum(synonyms.values()), limits.max_synonym_terms,
               "merchandising.max_synonym_terms"))
    for what, count, limit, name in counts:
        if count > limit:
            raise HTTPException(413, detail=f"this change would hold {count} {what}: at most {limit} "
                                            f"({name}); nothing was written")


def write_changes(state: ServiceState, lines: list[tuple[str, dict]]) -> MerchandisingBook:
    """Check the limits, append every line with one write and an fsync, fold them here; the book
    after them (module docstring)."""
    follower = follower_of(state)
    check_limits(follower.book, lines, state)
    batch: dict[str, list[dict]] = {}
    for table, line in lines:
        batch.setdefault(table, []).append(line)
    try:
        state.event_log.append(batch, client=lines[0][1]["author"] if lines else None)
    except EventLogUnavailableError as exc:
        log.error("merchandising change refused: %s", exc)
        raise HTTPException(503, detail=f"the event log cannot be written now ({unavailable_reason(exc)}); "
                                        "nothing was written, retry later",
                            headers={"Retry-After": "30"}) from exc
    follower.catch_up()  # durable already: a failure here is the next poll's to fold
    return follower.book
