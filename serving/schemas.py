"""Request and response models of the HTTP API (pydantic; OpenAPI is generated from them).

Event models are generated from the data contracts (``ranking.contracts.tables``), so
``POST /v1/events`` accepts exactly the columns the training pipeline reads, with the
same allowed values and bounds. Event timestamps (ISO 8601 or UTC epoch milliseconds) and a
request's ``context.time`` must fall between 2000-01-01 and one day past the server's
clock (:func:`bounded_epoch_ms`, the one check of both): anything else is a unit mistake
(seconds sent as milliseconds) or a broken client clock; a value past int64 would make
the whole log unreadable to ``merge-events``, and a request dated in year 9999 would rank
with every recency feature of the snapshot turned into nonsense. Events are held to tighter,
configurable bounds on top (:mod:`serving.event_checks`: minutes of clock skew, not a day).
Event ids are never negative and an event's free text (``variant``) is at most
:data:`EVENT_TEXT_MAX_CHARS` characters.

Numbers and flags are strict (:data:`Int`, :data:`Float`, :data:`Bool`): ``true`` is not a
page size of 1 nor ``"20"`` one of 20, ``1`` is not ``true``; a float takes a JSON integer
(JSON has one number type). Times stay ISO 8601 strings or epoch integers: JSON has no
date type.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pyarrow as pa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, create_model, model_validator

from ranking.badges import ATTRIBUTE_BADGES, Badge
from ranking.contracts.tables import TABLES, Column
from ranking.event_log import LOGGED_TABLES
from ranking.surfaces import Surface

MAX_ID = 2**63 - 1
Int = Annotated[int, Strict()]  # refuses booleans and numeric strings
Float = Annotated[float, Strict()]  # takes an integer, refuses booleans and strings
Bool = Annotated[bool, Strict()]  # refuses 0, 1 and "true"
EVENT_TEXT_MAX_CHARS = 200  # an event's free text (a variant name): a 10k-character one is junk


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


TIME_MIN_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
CLOCK_SKEW_MS = 24 * 3600 * 1000  # how far past the server's clock an event or request may be


def bounded_epoch_ms(value: datetime | int) -> int:
    """An event's or request's time as UTC epoch milliseconds (naive datetimes are UTC),
    refused (ValueError) outside [2000-01-01, now + 1 day]."""
    if isinstance(value, datetime):
        t = value if value.tzinfo else value.replace(tzinfo=UTC)
        ms = int(t.timestamp() * 1000)
    else:
        ms = int(value)
    if ms < TIME_MIN_MS:
        raise ValueError("before 2000-01-01: expected UTC epoch milliseconds or ISO 8601 "
                         "(epoch seconds are 1000 times too small)")
    if ms > time.time() * 1000 + CLOCK_SKEW_MS:
        raise ValueError("more than a day ahead of the server's clock")
    return ms


def _bounded_time(value: datetime | None) -> datetime | None:
    if value is not None:
        bounded_epoch_ms(value)
    return value


class Context(Strict):
    """When the request happens (defaults to now); ``hour`` overrides the local hour."""

    time: Annotated[datetime | None, AfterValidator(_bounded_time)] = Field(
        None, description="request time (ISO 8601, naive is UTC) between 2000-01-01 and one day "
                          "past the server's clock; default now")
    hour: Int | None = Field(None, ge=0, le=23, description="local hour of day, for themes")


class Filters(Strict):
    price_min: Float | None = Field(None, ge=0)
    price_max: Float | None = Field(None, ge=0)
    category_id: Int | None = Field(None, ge=0, le=MAX_ID, description="leaf or top-level category")
    store_id: Int | None = Field(None, ge=0, le=MAX_ID)


SESSION_ID_MAX_CHARS = 128
SessionId = Annotated[str, Field(
    min_length=1, max_length=SESSION_ID_MAX_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$",
    description="an anonymous shopper's session (1 to 128 printable characters, no control "
                "characters): a shopper without an account is followed by session, and a session "
                "whose events later also carry a user_id folds into that user",
    examples=["s-3f9c2a71"])]
Id = Annotated[Int, Field(ge=0, le=MAX_ID)]
PageSize = Annotated[Int, Field(ge=1, description="cards wanted (limit: serving.max_page_size)")]
Slots = Annotated[list[Annotated[Int, Field(ge=1)]], Field(max_length=20)]
# No subsidy slots: a new list per body from a factory, not the default ``[]`` that pydantic
# deep-copies for every body that leaves it out (~2 µs a page on the event loop); the schema
# still says ``"default": []``, so /openapi.json is the same (tests/test_request_bodies.py).
NO_SLOTS: dict[str, Any] = {"default_factory": list, "json_schema_extra": {"default": []}}


def _badge_field(code: str, meaning: str) -> Any:
    return Field(None, description=f"true: only products that {meaning} (cards carrying the `{code}` badge; "
                                   f"the others are listed in `dropped` with reason `filter:{code}`); false "
                                   "or absent: no filter", examples=[True])


class BadgeFilters(Strict):
    """The trust and offer filters every ranking body takes (search, homepage, rerank and the
    channel pages): ``true`` keeps only products carrying that badge (docs/offers.md)."""

    free_shipping: Bool | None = _badge_field("free_shipping", "ship free (包邮)")
    freight_insurance: Bool | None = _badge_field("freight_insurance", "have return shipping paid by "
                                                  "freight insurance (退货补运费)")
    seven_day_returns: Bool | None = _badge_field("seven_day_returns", "take 7-day no-reason returns")
    authentic_guarantee: Bool | None = _badge_field("authentic_guarantee", "carry the authenticity "
                                                    "guarantee (假一赔九)")
    pay_later: Bool | None = _badge_field("pay_later", "can be paid later or in instalments (先用后付、分期)")
    multi_item_discount: Bool | None = _badge_field("multi_item_discount",
                                                    "discount buying several (多件多折)")

    def required_badges(self) -> tuple[str, ...]:
        """The badge codes asked for (the fields set to true), in ranking.badges order."""
        return tuple(code for code in ATTRIBUTE_BADGES if getattr(self, code) is True)


class SearchRequest(BadgeFilters):
    query: str = Field(..., min_length=1, description="search text in any script (accents do not matter); "
                       "one without a searchable word (a letter or digit of any script), e.g. only "
                       "punctuation or emoji, is a 422")
    user_id: Int | None = Field(None, ge=0, le=MAX_ID)
    session_id: SessionId | None = None
    page_size: PageSize | None = Field(None, description="cards wanted; default serving.default_page_size "
                                       "(20), at most serving.max_page_size")
    filters: Filters | None = None
    context: Context | None = None
    subsidy_slots: Slots = Field(description="1-based positions for subsidy-channel products", **NO_SLOTS)
    spell_correct: Bool = Field(
        True, description="rewrite words no product holds to catalog words first ('did you mean'); false "
                          "searches exactly as typed (the frontend's 'search instead for ...')")


class HomepageRequest(BadgeFilters):
    user_id: Int | None = Field(None, ge=0, le=MAX_ID, description="absent for an anonymous visitor")
    session_id: SessionId | None = None
    page_size: PageSize | None = Field(None, description="cards wanted; default serving.default_page_size "
                                       "(20), at most serving.max_page_size")
    context: Context | None = None
    subsidy_slots: Slots = Field(description="1-based positions for subsidy-channel products", **NO_SLOTS)


class RerankRequest(BadgeFilters):
    user_id: Int | None = Field(None, ge=0, le=MAX_ID)
    session_id: SessionId | None = None
    query: str | None = Field(None, min_length=1, description="with surface search only; as in /v1/search, "
                              "one without a searchable word is a 422")
    surface: Surface
    candidates: list[Id] = Field(..., min_length=1)
    page_size: Int | None = Field(None, ge=1, description="default: all candidates")
    context: Context | None = None
    subsidy_slots: Slots = Field(**NO_SLOTS)
    spell_correct: Bool = Field(
        True, description="relevance features read the query with words no product holds rewritten to "
                          "catalog words, as /v1/search does; false reads it as typed")


class Baseline(BaseModel):
    """What the contributions are measured against (``ranking/explanation.py``)."""

    label: str = Field(description='"average card": what a merchant reads for the baseline')
    average_card: float = Field(description="the model's score of the average training card (LightGBM's "
                                            "bias), in model-score units")
    not_applicable: float = Field(description="the contributions of this card's missing or not-applicable "
                                              "figures, moved into the baseline so they count as nothing")
    not_applicable_features: list[str] = Field(
        description="those features: missing values, and brand_match when the query names no brand (on a "
                    "page without a query every relevance feature)")


class Contribution(BaseModel):
    """One feature's share of the model score."""

    feature: str = Field(description="the feature's name in the registry (docs/features.md)")
    label: str = Field(description="what it means, for a merchant")
    group: str = Field(description="product, store, price, relevance, personal, context or live")
    value: float | None = Field(description="the value the model read, raw (null: missing)")
    unit: str = Field(description="how `shown` reads it (ranking/features/units.py)")
    shown: str = Field(description='the value in its unit: "3.1%", "0.99/day", "72/100", "yes"')
    contribution: float = Field(description="its contribution to the model score (model-score units)")


class Dimension(BaseModel):
    """One dimension of the product score or the store experience score."""

    dimension: str = Field(description="its column name")
    label: str = Field(description="what it measures, for a merchant")
    score: float | None = Field(description="0-100 (mostly a percentile within the category; null: unknown)")
    shown: str = Field(description='the score on its scale, "72/100"')


class RuleNote(BaseModel):
    """A business rule that moved or placed the card (docs/serving.md, "Business rules")."""

    model_config = ConfigDict(extra="allow")  # a rule may add its own figures

    rule: str = Field(description="the rule's name in settings and code")
    label: str = Field(description="what a merchant reads: the rule named for what it does")
    does: str = Field(description="what the rule does, in one line")
    why: str = Field(description="why it acted on this card")
    delta: float | None = Field(None, description="how far it moved the card's score (model-score units)")
    position: int | None = Field(None, description="the position it placed the card at")
    propensity: float | None = Field(None, description="the chance of this placement (exploration)")


class Explanation(BaseModel):
    """Why the card scored so: ``bias`` + the sum of ``groups`` = ``model_score`` exactly."""

    model_score: float | None
    bias: float = Field(description="the baseline the contributions are measured against: "
                                    "baseline.average_card + baseline.not_applicable")
    baseline: Baseline
    groups: dict[str, float] = Field(description="contributions summed by feature group; a missing or "
                                                 "not-applicable feature contributes 0, so a page without "
                                                 "a query has relevance 0")
    top_features: list[Contribution] = Field(description="the eight largest non-zero contributions")
    product_dimensions: list[Dimension] = Field(description="the product score's dimensions, 0-100")
    store_dimensions: list[Dimension] = Field(description="the store experience score's dimensions, 0-100")
    rules: list[RuleNote] = Field(description="every rule that moved or placed the card")


class Card(BaseModel):
    product_id: int
    title: str
    price: float | None
    price_advantage: float | None
    store_id: int
    store_name: str
    store_experience_score: float | None
    product_score: float | None
    subsidy: bool
    badges: list[Badge] = Field(
        description="the badges the card carries, stable codes in this order: free_shipping, "
                    "freight_insurance, seven_day_returns, authentic_guarantee, pay_later, "
                    "multi_item_discount (the product's trust and offer attributes), subsidy (the big-brand "
                    "subsidy channel), "
                    "new_product (listed within badges.new_product_days of the request's time); a front end "
                    "maps each code to its own words and icon (docs/offers.md)",
        examples=[["free_shipping", "seven_day_returns", "subsidy"]])
    score: float | None = Field(description="model score plus rule moves (the page order)")
    model_score: float | None
    position: int
    propensity: float = Field(description="probability this card was placed here (exploration < 1)")
    sources: list[str] = Field(description="recall sources that proposed it")
    team: str | None = Field(None, description="interleaving: the variant that contributed it")
    shared: bool | None = Field(None, description="interleaving: both variants' pages held it, so "
                                                  "its clicks and orders favour neither")
    explanation: Explanation | None = None
    matched_words: list[str] | None = Field(
        None, description="search: the query words this card's title, brand or category text holds (a "
                          "word the catalog lacks as a whole matched inside longer catalog words counts); "
                          "null off search")


class PageRedirect(BaseModel):
    rule_id: str = Field(description="the redirect rule's id")
    channel: str | None = Field(None, description="the channel path to open (starts with /)")
    category_id: int | None = Field(None, description="the category page to open")


class Dropped(BaseModel):
    product_id: int
    reason: str
    stage: str


class QueryWordCount(BaseModel):
    word: str = Field(description="a query word as searched (Latin words lightly stemmed; a Chinese "
                                  "word is a run of characters whose bigrams the catalog holds)")
    cards: int = Field(description="cards of this page whose text holds it")
    products: int = Field(description="catalog products whose text holds it (0: no product matches it)")
    matched_inside: list[str] = Field(description="catalog words it matched as part of, when the catalog "
                                                  "lacks it as a whole word (\"phone\" -> smartphone)")
    synonyms: list[str] = Field([], description="the operator's synonym terms standing for it: a card "
                                                "holding one holds the word (absent when none)")


class SynonymFired(BaseModel):
    id: str | None = Field(description="the synonym set's id (null: a preview's draft set)")
    terms_added: list[str] = Field(description="terms the query also searched, as alternatives of the "
                                               "words they stand for")


class SearchNotice(BaseModel):
    kind: Literal["partial", "no_match"] = Field(
        description="partial: the strongest query words are in no product, others matched; no_match: no "
                    "query word is in any product and the cards are only the closest by text similarity")
    unmatched: list[str] = Field(description="query words no product holds")
    matched: list[str] = Field(description="query words some product holds")
    message: str = Field(description="the notice in words, for the page to show")


class RankingResponse(BaseModel):
    request_id: int
    query_id: int | None = Field(None, description="id of the normalised query as searched (for impression "
                                                    "events): the corrected query when spelling rewrote it")
    corrected_query: str | None = Field(
        None, description="the query as searched when spelling correction rewrote the typed one (show "
                          "'results for ...'); null when it was searched as typed")
    synonyms: list[SynonymFired] | None = Field(
        None, description="search: the operator's synonym sets that fired on the query as searched (after "
                          "spelling correction), each with the terms it added to recall; null when none "
                          "did (docs/merchandising.md)")
    text_match: bool | None = Field(
        None, description="search: whether some card's product text holds the query's strongest word "
                          "(highest IDF; a word no product holds is the strongest); false means no card "
                          "holds it and the page should say so (see notice); null on homepage, channel "
                          "and rerank pages")
    query_words: list[QueryWordCount] | None = Field(
        None, description="search: each query word with the cards of this page and the catalog products "
                          "that hold it; null off search")
    notice: SearchNotice | None = Field(
        None, description="search: set when the query's strongest words are in no product (partial or "
                          "no match); null when every word matched or off search")
    bundle_version: str
    experiment: str
    variant: str
    cards: list[Card]
    dropped: list[Dropped]
    rules_applied: list[str] = Field(
        default_factory=list, description="ids of the operator's merchandising rules that acted on this "
                                          "page (removed, pinned, moved or filtered a card, or redirected), "
                                          "in the conflict order (docs/merchandising.md)")
    redirect: PageRedirect | None = Field(
        None, description="an operator's redirect rule in force: the front end should open this channel "
                          "path or category page instead (the cards are still ranked); null when none")


class DemoUsers(BaseModel):
    users: list[int]
    hours: dict[str, str]


class SimilarResponse(BaseModel):
    product_id: int
    bundle_version: str
    cards: list[Card]


class EventsAccepted(BaseModel):
    accepted: dict[str, int]


class ReloadRequest(Strict):
    bundle: str | None = Field(None, min_length=1,
                               description="bundle folder inside the models directory: a name there "
                                           "('latest', a version) or an absolute path; default: "
                                           "serving.bundle (models/latest)")


class ReloadResponse(BaseModel):
    bundle_version: str
    previous_version: str | None
    path: str


# ---- event models from the contracts -----------------------------------------------------
def _python_type(col: Column) -> Any:
    t = col.type
    if pa.types.is_timestamp(t):
        base: Any = Annotated[datetime | Int, AfterValidator(bounded_epoch_ms)]
    elif pa.types.is_integer(t):
        base = Int
    elif pa.types.is_floating(t):
        base = Float
    elif pa.types.is_boolean(t):
        base = Bool
    else:
        base = str
    if col.allowed:
        base = Literal[tuple(col.allowed)]
    constraints: dict[str, Any] = {}
    if pa.types.is_integer(t) and col.name.endswith("_id"):
        constraints["ge"] = 0  # ids are never negative (a -1 would join nothing, silently)
    if pa.types.is_string(t) and not col.allowed:
        constraints["max_length"] = EVENT_TEXT_MAX_CHARS
    if col.min is not None:
        constraints["ge"] = col.min
    if col.max is not None:
        constraints["le"] = col.max
    if pa.types.is_integer(t):
        bits = t.bit_width
        constraints.setdefault("ge", -(2 ** (bits - 1)))
        constraints.setdefault("le", 2 ** (bits - 1) - 1)
    annotated = Annotated[base, Field(description=col.meaning, **constraints)]
    if col.nullable:
        return (annotated | None, None)
    return (annotated, ...)


class ShopperEvent(BaseModel):
    """An event row names its shopper: a ``user_id``, a ``session_id``, or both (the session then
    folds into the user)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _names_a_shopper(self) -> ShopperEvent:
        if getattr(self, "user_id", None) is None and getattr(self, "session_id", None) is None:
            raise ValueError("names no shopper: give user_id, session_id (anonymous) or both")
        return self


def _event_model(table: str) -> type[BaseModel]:
    contract = TABLES[table]
    fields = {c.name: _python_type(c) for c in contract.columns}
    annotated, _ = fields["user_id"]
    fields["user_id"] = (annotated | None, Field(None, description="the signed-in shopper; absent for an "
                                                 "anonymous one (then session_id is required)"))
    fields["session_id"] = (SessionId | None, None)
    name = "".join(p.capitalize() for p in table.split("_")) + "Event"
    return create_model(name, __base__=ShopperEvent, **fields)


EVENT_MODELS = {t: _event_model(t) for t in LOGGED_TABLES}

EventsBatch = create_model(
    "EventsBatch",
    __config__=ConfigDict(extra="forbid"),
    **{t: (list[EVENT_MODELS[t]], Field([], description=TABLES[t].row)) for t in LOGGED_TABLES},
)
