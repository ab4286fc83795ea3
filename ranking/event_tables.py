"""The event log's table shapes: which tables the service logs, the shape of its own exposure
lines, and the keys each logged event line carries beside its contract columns (who sent it,
when it arrived). Shared by the writer (:mod:`ranking.event_log`) and the reader
(:mod:`ranking.event_reader`), so neither imports the other for them.
"""

from __future__ import annotations

import pyarrow as pa

from ranking.catalog_changes import CATALOG_TABLES
from ranking.contracts.tables import TIMESTAMP, Column, TableContract
from ranking.merchandising.changes import MERCH_TABLES
from ranking.surfaces import SURFACES

LOGGED_TABLES = ("impressions", "clicks", "carts", "orders")
EXPOSURES = TableContract(
    "exposures",
    "one card the service itself returned (logged after the response, once per request)",
    (
        Column("request_id", pa.int64(), "the ranking request"),
        Column("timestamp", TIMESTAMP, "when the page was ranked"),
        Column("user_id", pa.int64(), "who asked; null for an anonymous visitor", nullable=True),
        Column("surface", pa.string(), "search, homepage or channel",
               allowed=SURFACES),
        Column("query_id", pa.int64(), "ranking.text.query_id of the query; null off search",
               nullable=True),
        Column("typed_query_id", pa.int64(), "query_id of the query as typed when spelling correction "
               "rewrote it (query_id is then the corrected one); null otherwise", nullable=True),
        Column("query", pa.string(), "the query text searched (after spelling correction), so "
               "merge-events can give query_id its text; null off search", nullable=True),
        Column("typed_query", pa.string(), "the query as typed when spelling correction rewrote it; "
               "null otherwise", nullable=True),
        Column("product_id", pa.int64(), "the product on the card"),
        Column("position", pa.int16(), "1-based slot", min=1),
        Column("experiment", pa.string(), "experiment(s) the request was in, comma-joined; none"),
        Column("variant", pa.string(), "variant(s) that served it, comma-joined"),
        Column("team", pa.string(), "interleaving: the variant that contributed the card",
               nullable=True),
        Column("shared", pa.bool_(), "interleaving: both variants' pages held the card, so what "
               "the shopper does with it favours neither", nullable=True),
        Column("propensity", pa.float64(), "probability of this card at this position",
               min=0.0, max=1.0),
        Column("bundle_version", pa.string(), "bundle that scored the card"),
        Column("latency_ms", pa.float32(), "server time to rank the page (latency guardrail)",
               nullable=True),
    ),
    group="service",
)
WRITABLE = {*LOGGED_TABLES, "exposures", *CATALOG_TABLES,  # catalog changes: ranking/catalog_changes.py
            *MERCH_TABLES}  # rules and synonyms: ranking/merchandising/changes.py
CLIENT_KEY, RECEIVED_KEY = "_client", "_received_ms"  # per event line: who sent it, when it arrived
