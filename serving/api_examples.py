"""The examples OpenAPI shows for every request and response body, and the documented shapes of
the bodies a route serves without a response model (health, readiness, the live view, ...).

A route passes its request examples as ``Body(openapi_examples=...)`` and its 2xx examples with
:func:`ok`; the error examples live with the statuses (:mod:`serving.responses`). Every example
is a body the service really takes or answers: the request examples pass their models
(``tests/test_openapi_docs.py`` validates each one), the ids are a small mall's, the queries
what its shoppers type (大米, 手机, "cordless vacuum"). FastAPI leaves every null out of
``/openapi.json``, so a field an example shows as null must have a default in its model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

BUNDLE = "20261205T013000Z-4c1d9e07"
EXPERIMENT, VARIANT = "default", "control"


def examples(**named: tuple[str, Any]) -> dict[str, dict[str, Any]]:
    """OpenAPI named examples: ``name=(summary, value)``."""
    return {name: {"summary": summary, "value": value} for name, (summary, value) in named.items()}


def ok(model: type[BaseModel] | None = None, media_type: str = "application/json",
       **named: tuple[str, Any]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the 200 answer: its named examples (and its model when the route
    serves the body without a response model)."""
    answer: dict[str, Any] = {"content": {media_type: {"examples": examples(**named)}}}
    if model is not None:
        answer["model"] = model
    return {200: answer}


# ---- requests -------------------------------------------------------------------------------
SEARCH = examples(
    rice=("a signed-in shopper searches 大米", {"query": "大米", "user_id": 18085, "page_size": 20}),
    filtered=("a price range and a category, slot 3 for the subsidy channel",
              {"query": "手机", "user_id": 9635, "page_size": 10, "subsidy_slots": [3],
               "filters": {"price_min": 500.0, "price_max": 3000.0, "category_id": 12},
               "context": {"time": "2026-12-05T20:30:00+08:00"}}),
    anonymous=("an anonymous shopper, searched exactly as typed",
               {"query": "cordless vacuum", "session_id": "s-3f9c2a71", "spell_correct": False}),
    free_shipping=("only products that ship free and can be paid later",
                   {"query": "手机", "user_id": 9635, "free_shipping": True, "pay_later": True}),
)
HOMEPAGE = examples(
    shopper=("a shopper's homepage at 9 in the morning (the grains & oil theme)",
             {"user_id": 18085, "page_size": 20, "context": {"hour": 9}}),
    anonymous=("an anonymous visitor's first page", {"session_id": "s-3f9c2a71", "page_size": 12}),
    subsidy=("two subsidy-channel slots", {"user_id": 9635, "subsidy_slots": [2, 7]}),
    free_shipping=("only free-shipping products on the shelf", {"user_id": 9635, "free_shipping": True}),
)
RERANK = examples(
    search=("the caller's own search candidates, reranked for 大米",
            {"surface": "search", "query": "大米", "user_id": 18085,
             "candidates": [1017, 2044, 3120, 877, 4410], "page_size": 3}),
    homepage=("a homepage shelf the caller built", {"surface": "homepage", "user_id": 9635,
                                                    "candidates": [5021, 5188, 612, 90233]}),
)
EVENTS = examples(
    page=("a page shown, one card clicked and carted", {
        "impressions": [{"request_id": 7731200455, "user_id": 18085, "product_id": 1017,
                         "surface": "search", "position": 1, "query_id": 3141592653,
                         "timestamp": "2026-12-05T12:00:01Z", "variant": "control", "propensity": 1.0}],
        "clicks": [{"request_id": 7731200455, "user_id": 18085, "product_id": 1017, "position": 1,
                    "timestamp": "2026-12-05T12:00:09Z"}],
        "carts": [{"request_id": 7731200455, "user_id": 18085, "product_id": 1017,
                   "timestamp": "2026-12-05T12:01:30Z"}]}),
    order=("an anonymous shopper's order", {
        "orders": [{"order_id": 55012, "request_id": 7731200455, "session_id": "s-3f9c2a71",
                    "product_id": 1017, "store_id": 12, "quantity": 1, "price_paid": 59.0,
                    "cancelled": False, "timestamp": "2026-12-05T12:05:00Z"}]}),
)
RELOAD = examples(
    latest=("load models/latest again (after training wrote a new bundle there)", {}),
    named=("load a bundle by its folder name", {"bundle": BUNDLE}),
)

# ---- responses ------------------------------------------------------------------------------
CARD = {"product_id": 1017, "title": "五常大米 稻花香 5kg", "price": 59.0, "price_advantage": 0.12,
        "store_id": 12, "store_name": "新农优选旗舰店", "store_experience_score": 82.4,
        "product_score": 77.9, "subsidy": False, "badges": ["free_shipping", "seven_day_returns"],
        "score": 1.84, "model_score": 1.71, "position": 1,
        "propensity": 1.0, "sources": ["lexical", "dense"], "team": None, "shared": None,
        "explanation": None, "matched_words": ["大米"]}
EXPLANATION = {
    "model_score": 1.71, "bias": -2.49,
    "baseline": {"label": "average card", "average_card": -2.672, "not_applicable": 0.182,
                 "not_applicable_features": ["brand_match"]},
    "groups": {"product": 1.807, "personal": 0.516, "relevance": 0.31, "price": 0.233,
               "context": -0.081, "store": 0.006, "live": -0.104},
    "top_features": [{"feature": "cvr", "label": "conversion rate (orders per click)", "group": "product",
                      "value": 0.311, "unit": "rate", "shown": "31.1%", "contribution": 1.258}],
    "product_dimensions": [{"dimension": "product_quality", "label": "product quality", "score": 74.3,
                            "shown": "74/100"}],
    "store_dimensions": [{"dimension": "store_logistics", "label": "store logistics", "score": 92.1,
                          "shown": "92/100"}],
    "rules": [{"rule": "value_tilt", "label": "order-value tilt", "why": "dearer than the median candidate",
               "does": "nudges dearer candidates up a little when the surface favours order value; not a "
                       "judgement of the price", "delta": 0.011}]}
PAGE = {"request_id": 7731200455, "query_id": 3141592653, "corrected_query": None, "synonyms": None,
        "text_match": True,
        "query_words": [{"word": "大米", "cards": 2, "products": 143, "matched_inside": []}], "notice": None,
        "bundle_version": BUNDLE, "experiment": EXPERIMENT, "variant": VARIANT,
        "cards": [CARD, {**CARD, "product_id": 2044, "title": "东北大米 长粒香 10kg", "price": 89.9,
                         "price_advantage": -0.03, "store_id": 31, "store_name": "黑土地粮油",
                         "store_experience_score": 74.0, "product_score": 70.2, "score": 1.52,
                         "model_score": 1.52, "position": 2, "sources": ["lexical"]}],
        "dropped": [{"product_id": 3120, "reason": "out_of_stock", "stage": "governance"}]}
HOMEPAGE_PAGE = {**PAGE, "query_id": None, "text_match": None, "query_words": None,
                 "cards": [{**CARD, "sources": ["repurchase", "theme"], "subsidy": True,
                            "badges": ["free_shipping", "authentic_guarantee", "subsidy"],
                            "matched_words": None}],
                 "dropped": []}
RANKING_OK = dict(page=("a page of cards (two shown), best first", PAGE),
                  homepage=("a homepage card from two recall sources", HOMEPAGE_PAGE),
                  explained=("a card with its explanation (?explain=true)",
                             {**PAGE, "cards": [{**CARD, "explanation": EXPLANATION}], "dropped": []}),
                  partial=("a query the catalog only partly holds: the page says so",
                           {**PAGE, "text_match": False, "cards": [{**CARD, "product_id": 5120,
                            "title": "Tapex classic vacuum cleaner cordless", "matched_words": ["cordless"]}],
                            "query_words": [{"word": "cordless", "cards": 1, "products": 61,
                                             "matched_inside": []},
                                            {"word": "drill", "cards": 0, "products": 0,
                                             "matched_inside": []}],
                            "notice": {"kind": "partial", "unmatched": ["drill"], "matched": ["cordless"],
                                       "message": "No product matches 'drill'; showing results for "
                                                  "'cordless'."}, "dropped": []}),
                  corrected=("a misspelt query searched as the catalog word it meant",
                             {**PAGE, "corrected_query": "大米", "cards": [CARD], "dropped": []}))
SIMILAR_OK = dict(similar=("products like 1017", {"product_id": 1017, "bundle_version": BUNDLE,
                                                  "cards": [{**CARD, "product_id": 2044, "score": 0.93,
                                                             "model_score": 0.93, "sources": ["similar"]}]}))
EVENTS_OK = dict(accepted=("rows written per table", {"accepted": {"impressions": 1, "clicks": 1, "carts": 1,
                                                                   "orders": 0}}))
DEMO_USERS_OK = dict(users=("the picker's users and the time-slot themes", {
    "users": [9635, 18085, 20417], "hours": {"06-12": "grains & cooking oil", "12-18": "food & daily goods",
                                             "18-06": "digital & beauty"}}))
RELOAD_OK = dict(swapped=("the new bundle serves", {"bundle_version": BUNDLE,
                                                   "previous_version": "20261204T013000Z-9b2e11aa",
                                                   "path": f"/srv/shelfrank/models/{BUNDLE}"}))
CATALOG_OK = dict(applied=("one new row, one update", {"accepted": 2, "new": 1, "updated": 1}))
BAN_OK = dict(banned=("a product and a store banned", {"products": 1, "stores": 1, "unban": False}))


class Health(BaseModel):
    """``/healthz``: the process is up."""

    status: str = Field(description="always 'ok'")


class Readiness(BaseModel):
    """``/readyz`` (200 ready, 503 not): the path and the internal reason only with the operator token."""

    ready: bool
    bundle_version: str | None = Field(None, description="the served bundle, null when none is loaded")
    writes: str = Field(description="'open' (no token configured: the demo) or 'authenticated'")
    reason: str | None = Field(None, description="why not ready (in words; the real reason with the token)")
    bundle_path: str | None = Field(None, description="with the operator token only")


class LiveShopper(BaseModel):
    """``/admin/live/shopper``: what this worker's live state knows of one shopper."""

    user_id: int | None = Field(None, description="null for an anonymous session")
    session_id: str | None = Field(None, description="null for a signed-in user")
    now_ms: int
    items: list[int] = Field(description="recent products, newest first")
    times_ms: list[int]
    kinds: list[int] = Field(description="what the shopper did to each: 0 click, 1 cart, 2 order")
    leaves: list[int] = Field(description="the leaf categories of the recent items")
    bought: list[int]
    ignored: list[int] = Field(description="cards shown often and never clicked")
    ignored_shown: list[int]
    exclude: list[int] = Field(description="what the pages leave out for this shopper")


HEALTH_OK = dict(up=("the process is up", {"status": "ok"}))
READY_OK = dict(ready=("ready, writes need a token", {"ready": True, "bundle_version": BUNDLE,
                                                      "writes": "authenticated"}),
                operator=("ready, as the operator token sees it", {
                    "ready": True, "bundle_version": BUNDLE, "writes": "authenticated",
                    "bundle_path": f"/srv/shelfrank/models/{BUNDLE}", "reason": None}))
NOT_READY = dict(draining=("draining for shutdown (take the worker out of rotation)", {
    "ready": False, "bundle_version": BUNDLE, "writes": "authenticated", "reason": "draining for shutdown"}),
    no_bundle=("no bundle loaded", {"ready": False, "bundle_version": None, "writes": "open",
                                    "reason": "no bundle loaded (the operator token shows why)"}))
METRICS_OK = dict(exposition=("Prometheus text exposition (excerpt)",
                              "# TYPE shelfrank_events_total counter\n"
                              "shelfrank_events_total{table=\"clicks\"} 1523.0\n"))
BUNDLE_OK = dict(manifest=("the manifest (an excerpt: data, training and recall facts left out)", {
    "kind": "ranker", "version": BUNDLE, "created_at": "2026-12-05T01:30:00+00:00", "scorer": "lleaves",
    "feature_schema_hash": "5e0b7c2a", "settings": {"serving": {"admin_token": "**********"}},
    "files": {"model.txt": "9f2c4d1e...", "feature_schema.json": "0a7b..."}}))

LIVE_SHOPPER_OK = dict(shopper=("a shopper who clicked one rice and carted another", {
    "user_id": 18085, "session_id": None, "now_ms": 1796471200000, "items": [1017, 2044],
    "times_ms": [1796471190000, 1796471100000], "kinds": [1, 0], "leaves": [103, 103],
    "bought": [], "ignored": [612], "ignored_shown": [4], "exclude": []}))
TRAFFIC_OK = dict(report=("a store's last day and week (the week's window left out here)", {
    "store_id": 12, "category_id": 1,
    "category_means": "the store's main top-level category (most of its products)",
    "store_experience_score": 82.4, "as_of_ms": 1796471200000,
    "windows": {"day": {"cards_shown": 48210, "store_cards": 402, "exposure_share": 0.0083,
                        "category_cards": 9100, "category_stores": 31, "category_average_share": 0.0061,
                        "vs_category_average": 1.37, "unknown_product_cards": 0,
                        "policy_rules": {"demotion": 0, "store_boost": 402, "store_penalty": 0,
                                         "fold_floor_grade_d": 3, "no_campaign_boost": 11,
                                         "no_subsidy_slot": 0}}},
    "grade_mix": {"A": 14, "B": 22, "C": 6, "D": 1, "unknown": 0},
    "policy_rules_note": "cards of the store shown in the window that each rule applies to, "
                         "recomputed from today's scores and the settings in force",
    "raise_it": [{"dimension": "store_logistics", "score": 61.0, "category_median": 70.5, "gap": -9.5,
                  "how": "ship within 48 hours of payment and deliver by the promised day"}]}))
