"""The checks a well-formed request must still pass before anything is ranked or logged.

Pydantic (``serving/schemas.py``) refuses what is malformed; these functions refuse what
is well-formed but cannot mean what it says (a page larger than the service serves, a
subsidy slot past the page, filters no product could pass, a query with no searchable
word, an empty or oversized event batch). Each raises a 422 shaped like pydantic's,
naming the field, and is a plain function of the request and the limits (no app, no
client), so it is unit-tested on its own (``tests/test_serving_validation.py``).
"""

from __future__ import annotations

from fastapi import HTTPException

from ranking.engine import Engine
from ranking.settings import ServingSettings
from serving.schemas import Filters, HomepageRequest, RerankRequest, SearchRequest


def field_error(field: str, msg: str) -> HTTPException:
    """A 422 shaped like pydantic's; a dotted ``field`` (``filters.price_min``) nests in ``loc``."""
    return HTTPException(422, detail=[{"loc": ["body", *field.split(".")], "msg": msg,
                                       "type": "value_error"}])


def check_page_size(page_size: int, max_page_size: int) -> None:
    if page_size > max_page_size:
        raise field_error("page_size", f"at most {max_page_size} (serving.max_page_size)")


def check_subsidy_slots(slots: list[int], page_size: int) -> None:
    """Subsidy slots name distinct positions on the page (else the request cannot be honoured)."""
    seen: set[int] = set()
    for slot in slots:
        if slot in seen:
            raise field_error("subsidy_slots", f"position {slot} is listed twice")
        if slot > page_size:
            raise field_error("subsidy_slots", f"position {slot} is past the page ({page_size} cards)")
        seen.add(slot)


def check_filters(filters: Filters | None, engine: Engine) -> None:
    """Filters that no product could pass are the caller's mistake, not an empty page."""
    f = filters
    if f is None:
        return
    if f.price_min is not None and f.price_max is not None and f.price_min > f.price_max:
        raise field_error("filters.price_min", f"{f.price_min} is above price_max {f.price_max}")
    if f.category_id is not None and not engine.knows_category(f.category_id):
        raise field_error("filters.category_id", f"no product of bundle {engine.version} is in "
                                                 f"category {f.category_id} (leaf or top level)")
    if f.store_id is not None and not engine.knows_store(f.store_id):
        raise field_error("filters.store_id", f"store {f.store_id} is not in bundle {engine.version}")


def check_query(query: str | None, max_chars: int) -> None:
    """A query fits ``serving.max_query_chars`` and holds a searchable word (``Engine.searchable``)."""
    if query is None:
        return
    if len(query) > max_chars:
        raise field_error("query", f"at most {max_chars} characters")
    if not query.strip():
        raise field_error("query", "must contain something other than white space")
    if not Engine.searchable(query):  # "!!!", "🙂": recall would be arbitrary
        raise field_error("query", "query has no searchable words (no letter or digit of any script: "
                                   "only punctuation, symbols or emoji)")


def check_search(body: SearchRequest, page_size: int, limits: ServingSettings, engine: Engine) -> None:
    check_page_size(page_size, limits.max_page_size)
    check_query(body.query, limits.max_query_chars)
    check_subsidy_slots(body.subsidy_slots, page_size)
    check_filters(body.filters, engine)


def check_homepage(body: HomepageRequest, page_size: int, limits: ServingSettings) -> None:
    check_page_size(page_size, limits.max_page_size)
    check_subsidy_slots(body.subsidy_slots, page_size)


def check_rerank(body: RerankRequest, page_size: int, limits: ServingSettings) -> None:
    """At most ``serving.max_rerank_candidates``; a query exactly when the surface is search."""
    if len(body.candidates) > limits.max_rerank_candidates:
        raise field_error("candidates", f"at most {limits.max_rerank_candidates} candidates "
                                        "(serving.max_rerank_candidates)")
    check_query(body.query, limits.max_query_chars)
    if body.surface == "search" and not body.query:
        raise field_error("query", "required when surface is search")
    if body.surface != "search" and body.query is not None:
        raise field_error("query", f"only read when surface is search (a {body.surface} "
                                   "page is ranked without one)")
    check_page_size(page_size, limits.max_page_size)
    check_subsidy_slots(body.subsidy_slots, page_size)


def check_event_count(total: int, max_events: int) -> None:
    """A batch holds at least one event and at most ``serving.max_events_per_post``."""
    if total == 0:
        raise field_error("impressions", "the batch holds no events")
    if total > max_events:
        raise field_error("impressions", f"at most {max_events} events per post")
