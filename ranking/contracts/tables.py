"""The mall's tables: one declaration per table, with a meaning for every column.

Timestamps are UTC instants (``timestamp[ms, tz=UTC]``); the mall's local clock (for
hour-of-day themes) is applied by :mod:`ranking.mall_clock`. Money is in yuan (float64).
Identifiers are integers; ``product_id``, ``user_id``, ``request_id`` and ``order_id``
are int64 so they never overflow at any scale. Positions are 1-based (1 = first card).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from ranking.surfaces import SURFACES

TIMESTAMP = pa.timestamp("ms", tz="UTC")

BRAND_TIERS = ("big_brand", "native_fast_growing", "white_label")
RETURN_REASONS = ("quality", "not_as_described", "no_reason", "other")
THEMES = ("grains_oil", "food_daily", "digital", "beauty", "")


@dataclass(frozen=True)
class Column:
    """One column: its name, Arrow type, meaning, and the values it may hold."""

    name: str
    type: pa.DataType
    meaning: str
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    # an optional column: a file without it is read as if every row held ``default`` (a mall
    # that does not record free shipping has none); None: the column is required
    default: object | None = None


@dataclass(frozen=True)
class TableContract:
    """A table: its file stem, what one row is, and its ordered columns."""

    name: str
    row: str
    columns: tuple[Column, ...]
    group: str
    references: dict[str, str] = field(default_factory=dict)
    unique: tuple[str, ...] = ()  # columns no two rows may share all of (checked when a file is read)
    optional: bool = False  # a dataset without this file reads it as an empty table
    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns],
            metadata={"shelfrank.table": self.name},
        )

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, type_: pa.DataType, meaning: str, **kw: object) -> Column:
    return Column(name, type_, meaning, **kw)  # type: ignore[arg-type]


I32, I64, I16, I8 = pa.int32(), pa.int64(), pa.int16(), pa.int8()
F64, STR, BOOL = pa.float64(), pa.string(), pa.bool_()

CATEGORIES = TableContract(
    "categories",
    "a node of the category tree (top-level categories and their leaves)",
    (
        _c("category_id", I32, "category identifier"),
        _c("parent_id", I32, "parent category; null for a top-level category", nullable=True),
        _c("level", I8, "0 for a top-level category, 1 for a leaf", min=0, max=1),
        _c("name", STR, "display name in Chinese"),
        _c("name_en", STR, "display name in English"),
        _c(
            "theme",
            STR,
            "time-slot theme the category belongs to: grains_oil (morning 06-12), food_daily "
            "(afternoon 12-18), digital or beauty (evening 18-06); empty when none",
            allowed=THEMES,
        ),
        _c("consumable", BOOL, "bought again and again (repurchase recall applies)"),
    ),
    group="catalog",
    unique=("category_id",),  # one row per id: every join on it assumes so
    references={"parent_id": "categories.category_id"},
)

BRANDS = TableContract(
    "brands",
    "a brand",
    (
        _c("brand_id", I32, "brand identifier"),
        _c("name", STR, "brand name as written in titles"),
        _c(
            "tier",
            STR,
            "big_brand, native_fast_growing (a rising brand native to the platform) or "
            "white_label",
            allowed=BRAND_TIERS,
        ),
    ),
    group="catalog",
    unique=("brand_id",),  # one row per id: every join on it assumes so
)

STORES = TableContract(
    "stores",
    "a merchant's store",
    (
        _c("store_id", I32, "store identifier"),
        _c("name", STR, "store display name"),
        _c("opened_at", TIMESTAMP, "when the store opened on the mall"),
        _c("region", STR, "province-level region the store ships from"),
    ),
    group="catalog",
    unique=("store_id",),  # one row per id: every join on it assumes so
)

PRODUCTS = TableContract(
    "products",
    "a product listing: one item sold by one store",
    (
        _c("product_id", I64, "product identifier"),
        _c("store_id", I32, "store that sells it"),
        _c("brand_id", I32, "brand of the item"),
        _c("category_id", I32, "leaf category"),
        _c(
            "comparable_group_id",
            I64,
            "the same (or an equivalent) item: listings of several stores share a group",
        ),
        _c("title", STR, "listing title (Chinese or English)"),
        _c("attribute_count", I16, "number of filled-in structured attributes", min=0),
        _c("image_count", I16, "number of images on the listing", min=0),
        _c("price", F64, "current selling price, yuan", min=0.0),
        _c("list_price", F64, "crossed-out list price, yuan", min=0.0),
        _c("stock", I32, "units in stock", min=0),
        _c("subsidy", BOOL, "in the big-brand subsidy channel"),
        _c("banned", BOOL, "blocked by governance (counterfeit or violating)"),
        _c("listed_at", TIMESTAMP, "when the listing went live"),
        # trust and offer attributes shoppers filter and compare on (ranking.badges): optional,
        # a mall that does not record one reads False
        _c("free_shipping", BOOL, "ships free, remote regions included (包邮)", default=False),
        _c("freight_insurance", BOOL, "return shipping paid by freight insurance (退货补运费)",
           default=False),
        _c("seven_day_returns", BOOL, "7-day no-reason returns (七天无理由退货)", default=False),
        _c("authentic_guarantee", BOOL, "authenticity guarantee: pays nine times a fake's price "
           "(假一赔九)", default=False),
        _c("pay_later", BOOL, "pay later or in instalments (先用后付、分期)", default=False),
        _c("multi_item_discount", BOOL, "a discount for buying several (多件多折)", default=False),
        _c("subsidy_depth", F64, "share of the list price the platform's subsidy pays (0 none, "
           "0.2 a fifth); 0 off the subsidy channel", min=0.0, max=1.0, default=0.0),
    ),
    group="catalog",
    unique=("product_id",),  # one row per id: every join on it assumes so
    references={
        "store_id": "stores.store_id",
        "brand_id": "brands.brand_id",
        "category_id": "categories.category_id",
    },
)

REFERENCE_PRICES = TableContract(
    "reference_prices",
    "one observation of the outside-market price of a comparable group",
    (
        _c("comparable_group_id", I64, "the comparable group observed"),
        _c("source", STR, "where the price was observed (another platform or shop)"),
        _c("price", F64, "observed price, yuan", min=0.0),
        _c("observed_at", TIMESTAMP, "when it was observed"),
    ),
    group="catalog",
)

USERS = TableContract(
    "users",
    "a shopper",
    (
        _c("user_id", I64, "user identifier"),
        _c("region", STR, "province-level region"),
        _c("signup_at", TIMESTAMP, "when the user signed up"),
    ),
    group="people",
    unique=("user_id",),  # one row per id: every join on it assumes so
)

QUERIES = TableContract(
    "queries",
    "a distinct search query text",
    (
        _c("query_id", I64, "stable id (< 2**53): ranking.text.query_id(text) of the normalised text"),
        _c("text", STR, "the query as typed (Chinese or English)"),
    ),
    group="people",
    unique=("query_id",),  # one row per id: every join on it assumes so
)

IMPRESSIONS = TableContract(
    "impressions",
    "one product card shown in one ranking response",
    (
        _c("request_id", I64, "the ranking request (one page view)"),
        _c("timestamp", TIMESTAMP, "when the page was shown"),
        _c("user_id", I64, "who saw it"),
        _c("surface", STR, "search, homepage or channel", allowed=SURFACES),
        _c("query_id", I64, "search query (queries.query_id); null off search", nullable=True),
        _c("product_id", I64, "the product on the card"),
        _c("position", I16, "1-based slot of the card on the page", min=1),
        _c("variant", STR, "experiment variant (policy) that produced the page"),
        _c(
            "propensity",
            F64,
            "probability that the logging policy put this product in this position",
            min=0.0,
            max=1.0,
        ),
    ),
    group="events",
    references={"user_id": "users.user_id", "product_id": "products.product_id"},
    unique=("request_id", "position"),
)

CLICKS = TableContract(
    "clicks",
    "a click on a shown card",
    (
        _c("request_id", I64, "the ranking request whose card was clicked"),
        _c("timestamp", TIMESTAMP, "when it happened"),
        _c("user_id", I64, "the shopper who did it"),
        _c("product_id", I64, "the product it was done to"),
        _c("position", I16, "slot of the clicked card", min=1),
    ),
    group="events",
    references={"user_id": "users.user_id", "product_id": "products.product_id"},
    # a card is clicked or not (labels and click counts are per card): a second row is a retry
    unique=("request_id", "product_id"),
)

CARTS = TableContract(
    "carts",
    "an add-to-cart",
    (
        _c("request_id", I64, "the ranking request it came from"),
        _c("timestamp", TIMESTAMP, "when it happened"),
        _c("user_id", I64, "the shopper who did it"),
        _c("product_id", I64, "the product it was done to"),
    ),
    group="events",
    references={"user_id": "users.user_id", "product_id": "products.product_id"},
    unique=("request_id", "product_id"),  # one add-to-cart per product of a page, as for clicks
)

ORDERS = TableContract(
    "orders",
    "a paid order line",
    (
        _c("order_id", I64, "order identifier"),
        _c("request_id", I64, "ranking request it is attributed to; null if none", nullable=True),
        _c("timestamp", TIMESTAMP, "when it was paid"),
        _c("user_id", I64, "buyer"),
        _c("product_id", I64, "product bought"),
        _c("store_id", I32, "store that sold it"),
        _c("price_paid", F64, "unit price paid, yuan", min=0.0),
        _c("quantity", I16, "units", min=1),
        _c("cancelled", BOOL, "cancelled by the store before shipping (e.g. no stock)"),
    ),
    group="events",
    references={
        "user_id": "users.user_id",
        "product_id": "products.product_id",
        "store_id": "stores.store_id",
    },
    unique=("order_id", "product_id"),  # one line per product of an order: a repeat would count twice
)

SHIPMENTS = TableContract(
    "shipments",
    "the shipment of one order",
    (
        _c("order_id", I64, "order shipped"),
        _c("store_id", I32, "store that shipped it"),
        _c("shipped_at", TIMESTAMP, "handed to the carrier"),
        _c("delivered_at", TIMESTAMP, "delivered; null while in transit", nullable=True),
        _c("promised_days", I8, "delivery promised within this many days of payment", min=1),
    ),
    group="events",
    references={"order_id": "orders.order_id", "store_id": "stores.store_id"},
    unique=("order_id",),  # joined to its order's lines: a second row would count them again
)

RETURNS = TableContract(
    "returns",
    "a return (refund request) of an order",
    (
        _c("order_id", I64, "order returned"),
        _c("timestamp", TIMESTAMP, "when the return was requested"),
        _c("product_id", I64, "product returned"),
        _c("store_id", I32, "store that sold it"),
        _c(
            "reason",
            STR,
            "quality, not_as_described, no_reason (7-day no-reason return) or other",
            allowed=RETURN_REASONS,
        ),
    ),
    group="events",
    references={"order_id": "orders.order_id", "product_id": "products.product_id"},
    unique=("order_id", "product_id"),  # one return per order line
)

REVIEWS = TableContract(
    "reviews",
    "a buyer's review of an order",
    (
        _c("order_id", I64, "order reviewed"),
        _c("timestamp", TIMESTAMP, "when it happened"),
        _c("user_id", I64, "reviewer"),
        _c("product_id", I64, "product reviewed"),
        _c("store_id", I32, "store reviewed"),
        _c("rating", I8, "stars, 1 (worst) to 5 (best)", min=1, max=5),
    ),
    group="events",
    references={"order_id": "orders.order_id", "product_id": "products.product_id"},
    unique=("order_id", "product_id"),  # one review per order line
)

SERVICE_TICKETS = TableContract(
    "service_tickets",
    "a customer-service conversation about an order",
    (
        _c("ticket_id", I64, "ticket identifier"),
        _c("order_id", I64, "order it is about"),
        _c("store_id", I32, "store that must answer"),
        _c("opened_at", TIMESTAMP, "when the buyer opened it"),
        _c("first_response_seconds", F64, "seconds until the store's first reply", min=0.0),
        _c("resolved", BOOL, "closed with the buyer's issue handled"),
        _c("escalated_to_dispute", BOOL, "escalated to a platform dispute"),
    ),
    group="events",
    references={"order_id": "orders.order_id", "store_id": "stores.store_id"},
    unique=("ticket_id",),
)

CREATORS = TableContract(
    "creators",
    "a creator (带货达人, an affiliate) who distributes products through content",
    (
        _c("creator_id", I64, "creator identifier"),
        _c("name", STR, "display name"),
        _c("joined_at", TIMESTAMP, "when the creator joined the affiliate programme"),
    ),
    group="creators",
    unique=("creator_id",),
    optional=True,
)

CREATOR_CONTENT = TableContract(
    "creator_content",
    "one piece of content (a video or a post) by a creator featuring one product",
    (
        _c("content_id", I64, "content identifier"),
        _c("creator_id", I64, "the creator who published it"),
        _c("product_id", I64, "the product it features and links to"),
        _c("published_at", TIMESTAMP, "when it was published"),
        _c("views", I64, "times it was viewed", min=0),
        _c("engagements", I64, "likes, comments and shares it drew", min=0),
        _c("reports", I64, "times viewers reported it as misleading", min=0),
    ),
    group="creators",
    unique=("content_id",),
    optional=True,
    references={"creator_id": "creators.creator_id", "product_id": "products.product_id"},
)

CREATOR_ORDERS = TableContract(
    "creator_orders",
    "an order line a creator's content brought (the affiliate attribution of the sale)",
    (
        _c("order_id", I64, "the order"),
        _c("product_id", I64, "the product of the order line"),
        _c("creator_id", I64, "the creator credited with the sale"),
    ),
    group="creators",
    unique=("order_id", "product_id"),  # one creator per order line
    optional=True,
    references={"creator_id": "creators.creator_id", "order_id": "orders.order_id"},
)

CATALOG_TABLES = (CATEGORIES, BRANDS, STORES, PRODUCTS, REFERENCE_PRICES)
CREATOR_TABLES = (CREATORS, CREATOR_CONTENT, CREATOR_ORDERS)
PEOPLE_TABLES = (USERS, QUERIES)
EVENT_TABLES = (
    IMPRESSIONS,
    CLICKS,
    CARTS,
    ORDERS,
    SHIPMENTS,
    RETURNS,
    REVIEWS,
    SERVICE_TICKETS,
)
TABLES: dict[str, TableContract] = {
    t.name: t for t in (*CATALOG_TABLES, *PEOPLE_TABLES, *EVENT_TABLES, *CREATOR_TABLES)
}
