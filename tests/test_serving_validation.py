"""Request checks and request building of the HTTP layer, as plain functions (no app, no client)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from fastapi import HTTPException

from ranking.settings import ServingSettings
from serving.rank_requests import mall_hour, page_size_for, rank_request, request_time
from serving.schemas import HomepageRequest, RerankRequest, SearchRequest
from serving.validation import (
    check_event_count,
    check_filters,
    check_query,
    check_rerank,
    check_search,
    check_subsidy_slots,
)

LIMITS = ServingSettings()


class Catalog:
    """What check_filters asks of an engine: known categories and stores, its version."""

    version = "v-test"

    def knows_category(self, category_id: int) -> bool:
        return category_id in {10, 11}

    def knows_store(self, store_id: int) -> bool:
        return store_id == 5


def _refused(check, *args) -> tuple[list, str]:
    with pytest.raises(HTTPException) as err:
        check(*args)
    assert err.value.status_code == 422
    (problem,) = err.value.detail
    return problem["loc"], problem["msg"]


def test_a_page_larger_than_the_service_serves_names_its_setting() -> None:
    body = SearchRequest(query="oil", page_size=LIMITS.max_page_size + 1)
    loc, msg = _refused(check_search, body, page_size_for(body, LIMITS), LIMITS, Catalog())
    assert loc == ["body", "page_size"] and "serving.max_page_size" in msg
    check_search(SearchRequest(query="oil"), LIMITS.default_page_size, LIMITS, Catalog())


@pytest.mark.parametrize(("slots", "says"), [([2, 2], "listed twice"), ([1, 21], "past the page")])
def test_subsidy_slots_are_distinct_positions_on_the_page(slots, says) -> None:
    loc, msg = _refused(check_subsidy_slots, slots, 20)
    assert loc == ["body", "subsidy_slots"] and says in msg
    check_subsidy_slots([1, 20], 20)


@pytest.mark.parametrize(("filters", "field"), [
    ({"price_min": 9, "price_max": 3}, "price_min"),
    ({"category_id": 12}, "category_id"),
    ({"store_id": 6}, "store_id"),
])
def test_filters_no_product_could_pass_are_refused_at_their_field(filters, field) -> None:
    body = SearchRequest(query="oil", filters=filters)
    loc, msg = _refused(check_filters, body.filters, Catalog())
    assert loc == ["body", "filters", field] and msg
    check_filters(SearchRequest(query="oil", filters={"category_id": 11, "store_id": 5}).filters, Catalog())


@pytest.mark.parametrize(("query", "says"), [("x" * 201, "at most 200"), ("   ", "white space"),
                                             ("!!!", "no searchable words"), ("🙂🙂", "no searchable words")])
def test_a_query_must_hold_a_searchable_word(query, says) -> None:
    loc, msg = _refused(check_query, query, 200)
    assert loc == ["body", "query"] and says in msg
    for fine in ("5L!!", "молоко", "café", None):
        check_query(fine, 200)


def test_rerank_takes_a_query_exactly_on_search_and_a_bounded_candidate_list() -> None:
    def refused(**fields) -> tuple[list, str]:
        body = RerankRequest(**{"surface": "homepage", "candidates": [1, 2, 3], **fields})
        return _refused(check_rerank, body, page_size_for(body, LIMITS), LIMITS)

    assert refused(surface="search")[1] == "required when surface is search"
    assert "only read when surface is search" in refused(query="oil")[1]
    assert refused(candidates=list(range(LIMITS.max_rerank_candidates + 1)))[0] == ["body", "candidates"]
    assert refused(subsidy_slots=[4])[0] == ["body", "subsidy_slots"]  # the page is the 3 candidates


def test_an_event_batch_holds_one_to_the_limit_of_events() -> None:
    assert "no events" in _refused(check_event_count, 0, 10)[1]
    assert "at most 10 events" in _refused(check_event_count, 11, 10)[1]
    check_event_count(10, 10)


def test_page_size_defaults_to_the_setting_or_to_all_candidates() -> None:
    limits = ServingSettings(default_page_size=7, max_page_size=50)
    assert page_size_for(HomepageRequest(), limits) == 7
    assert page_size_for(SearchRequest(query="oil", page_size=3), limits) == 3
    assert page_size_for(RerankRequest(surface="homepage", candidates=list(range(80))), limits) == 50
    assert page_size_for(RerankRequest(surface="homepage", candidates=[4, 5]), limits) == 2


def test_request_time_is_the_context_time_on_the_mall_clock() -> None:
    ctx = SearchRequest(query="x", context={"time": "2024-03-01T02:30:00"}).context  # naive = UTC
    now_ms, hour = request_time(ctx, "Asia/Shanghai")
    assert now_ms == int(datetime.fromisoformat("2024-03-01T02:30:00+00:00").timestamp() * 1000)
    assert hour == 10  # UTC+8
    assert request_time(SearchRequest(query="x", context={"time": "2024-03-01T02:30:00", "hour": 21}).context,
                        "Asia/Shanghai") == (now_ms, 21)


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Paris"])
def test_the_mall_hour_of_one_instant_is_local_hours(zone) -> None:
    """In Python's integers for a fixed offset (Kolkata +5:30), through ``local_hour`` for a zone
    with daylight saving time (St John's -3:30/-2:30, Paris): the same hour either way."""
    from ranking.mall_clock import local_hour

    rng = np.random.default_rng(5)
    instants = [0, -1, 1_700_000_000_000, *rng.integers(-2_000_000_000_000, 4_000_000_000_000, 300).tolist()]
    want = local_hour(np.array(instants), zone).tolist()
    got = [mall_hour(int(t), zone) for t in instants]
    assert got == want and all(type(h) is int for h in got)


def test_one_function_builds_every_endpoints_rank_request() -> None:
    search = SearchRequest(query="oil", user_id=3, subsidy_slots=[2],
                           filters={"price_min": 1, "price_max": 9, "category_id": 10, "store_id": 5})
    req = rank_request(search, 20, "cooking oil", True, 42, "Asia/Shanghai")
    assert (req.surface, req.page_size, req.query, req.explain, req.seed, req.user_id) == \
        ("search", 20, "cooking oil", True, 42, 3)
    assert (req.price_min, req.price_max, req.category_id, req.store_id, req.subsidy_slots) == \
        (1, 9, 10, 5, (2,))
    home = rank_request(HomepageRequest(), 20, None, False, 1, "Asia/Shanghai")
    assert (home.surface, home.query, home.candidates, home.price_min) == ("homepage", None, None, None)
    rerank = rank_request(RerankRequest(surface="channel", candidates=[7, 8]), 2, None, False, 1, "UTC")
    assert rerank.surface == "channel" and rerank.candidates.dtype == np.int64
    assert rerank.candidates.tolist() == [7, 8]
