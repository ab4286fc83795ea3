"""What ``POST /v1/events`` refuses beyond each row's own types and bounds.

The rule is to refuse what contradicts something the service knows (another row of the
same batch, or the catalog of a loaded bundle) and would later be counted wrongly or
dropped without a word; never what is merely absent from the batch (an impression posted
in an earlier batch, a product newer than the bundle). Each problem is a :class:`Problem`
naming the table, the row index and the field; the endpoint turns the first into a 422.

* a value outside the plausible (settings ``serving.*``): a timestamp more than
  ``event_past_days`` before or ``event_future_seconds`` after the server's clock, a
  ``price_paid`` above ``max_price_paid``, a ``quantity`` above ``max_order_quantity``
  (the static bounds, such as ids never negative, are the schema's: :mod:`serving.schemas`)
* a table's unique key repeated within the batch (one click per card of a page, ...)
* an impression on ``search`` without a ``query_id``, or one off search with one (training
  reads the query of a search page from it; a homepage card with a query would be
  featurised as a search result); impressions of one ``request_id`` on different surfaces
* what the cross-table consistency rules (:mod:`ranking.contracts.consistency`, the ones of
  :data:`SERVICE_RULES`) find in the batch itself, the same definitions ``shelfrank
  validate`` and ``merge-events`` judge a whole dataset by: impressions of one page that
  disagree on the shopper or the query, a click, cart or order line by another shopper than
  its card's, a click at another position than its card's, order lines of one order with
  different buyers or stores, and an order line whose ``store_id`` is not the store that
  sells the product in the loaded bundles' catalog (a listing never changes store)
* a ``product_id`` or ``user_id`` that no loaded bundle knows, on an event dated before
  the newest bundle's snapshot less the one-day clock skew: that bundle's catalog and
  user table hold every product listed and user signed up by then, so the id can only be
  wrong (it would fail the dataset's foreign keys and drop out of every count). A later
  event may name a product listed, or a user signed up, after the bundle was built:
  accepted, and checked against the dataset's own catalog by ``shelfrank validate`` after
  ``merge-events``. Without a loaded bundle, the catalog checks are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ranking.contracts.consistency import COLUMNS, RULES, JoinedTables
from ranking.contracts.io import repeated_rows
from ranking.contracts.tables import TABLES
from ranking.engine import Engine
from ranking.settings import ConsistencySettings, ServingSettings
from serving.schemas import CLOCK_SKEW_MS

DAY_MS = 24 * 3600 * 1000
# the consistency rules run on each batch: (rule, table) -> the field a breach is blamed on
SERVICE_RULES: dict[tuple[str, str], str] = {
    ("page_disagrees_on_user", "impressions"): "user_id",
    ("page_disagrees_on_query", "impressions"): "query_id",
    **{("user_differs_from_impression", t): "user_id" for t in ("clicks", "carts", "orders")},
    ("position_differs_from_impression", "clicks"): "position",
    ("lines_disagree_on_buyer", "orders"): "user_id",
    ("lines_disagree_on_store", "orders"): "store_id",
    ("store_differs_from_listing", "orders"): "store_id",
}


@dataclass(frozen=True)
class Problem:
    """One refused row: where (table, row index, field or None for the whole row) and why."""

    table: str
    row: int
    field: str | None
    msg: str

    @property
    def loc(self) -> list:
        return ["body", self.table, self.row, *([self.field] if self.field else [])]


def batch_problems(rows: dict[str, list[dict]], engines: Iterable[Engine] = (),
                   limits: ServingSettings | None = None, now_ms: int | None = None) -> list[Problem]:
    """Every problem of a batch of contract-valid rows (per table, in row order); ``limits``
    bound what is plausible (default settings), ``now_ms`` is the server's clock."""
    limits = limits or ServingSettings()
    problems = implausible_values(rows, limits, int(time.time() * 1000) if now_ms is None else now_ms)
    problems += repeated_keys(rows)
    problems += impression_pages(rows.get("impressions", []))
    engines = list(engines)
    problems += broken_rules(rows, engines)
    if engines:
        problems += against_catalog(rows, engines)
    return problems


def implausible_values(rows: dict[str, list[dict]], limits: ServingSettings, now_ms: int) -> list[Problem]:
    """Timestamps outside [now - event_past_days, now + event_future_seconds], prices and
    quantities above their bounds (the settings these depend on, so not in the schema)."""
    earliest = now_ms - int(limits.event_past_days * DAY_MS)
    latest = now_ms + int(limits.event_future_seconds * 1000)
    out = []
    for table, items in rows.items():
        for i, r in enumerate(items):
            if r["timestamp"] > latest:
                out.append(Problem(table, i, "timestamp", f"more than {limits.event_future_seconds:g} s "
                                   "after the server's clock (serving.event_future_seconds): a broken "
                                   "or forged client clock"))
            elif r["timestamp"] < earliest:
                out.append(Problem(table, i, "timestamp", f"more than {limits.event_past_days:g} days "
                                   "before the server's clock (serving.event_past_days): a unit "
                                   "mistake or a replayed log, not a live event"))
            if table == "orders" and r["price_paid"] > limits.max_price_paid:
                out.append(Problem(table, i, "price_paid", f"above {limits.max_price_paid:g} yuan "
                                   "(serving.max_price_paid)"))
            if table == "orders" and r["quantity"] > limits.max_order_quantity:
                out.append(Problem(table, i, "quantity", f"above {limits.max_order_quantity} units "
                                   "(serving.max_order_quantity)"))
    return out


def repeated_keys(rows: dict[str, list[dict]]) -> list[Problem]:
    """A row repeating its table's unique key within the batch (the contract can never hold
    both; a retry in a later batch is accepted and ``merge-events`` keeps the first copy)."""
    out = []
    for table, items in rows.items():
        key = TABLES[table].unique
        if not key or len(items) < 2:
            continue
        repeats = repeated_rows([np.array([r[c] for r in items]) for c in key])
        if len(repeats):
            singular = table[:-1]
            out.append(Problem(table, int(repeats[0]), None,
                               f"repeats an earlier row's {', '.join(key)}: one {singular} per "
                               f"{' and '.join(key)}"))
    return out


def impression_pages(impressions: list[dict]) -> list[Problem]:
    out = []
    first: dict[int, int] = {}
    for i, r in enumerate(impressions):
        if r["surface"] == "search" and r["query_id"] is None:
            out.append(Problem("impressions", i, "query_id", "required when surface is search (the "
                               "query_id of the ranking response)"))
        elif r["surface"] != "search" and r["query_id"] is not None:
            out.append(Problem("impressions", i, "query_id", f"must be null off search (surface is "
                               f"{r['surface']})"))
        j = first.setdefault(r["request_id"], i)
        if r["surface"] != impressions[j]["surface"]:  # the shopper and the query: SERVICE_RULES
            out.append(Problem("impressions", i, "surface", f"{r['surface']!r} disagrees with impressions "
                               f"row {j} of the same request_id ({impressions[j]['surface']!r}): one "
                               "page is on one surface"))
    return out


def broken_rules(rows: dict[str, list[dict]], engines: list[Engine]) -> list[Problem]:
    """The :data:`SERVICE_RULES` the batch breaks, judged by the consistency module's own rule
    definitions over the batch (and, for the store of an order line, the loaded catalogs)."""
    tables = {t: _batch_table(t, items) for t, items in rows.items() if items}
    if "orders" in tables and engines:
        tables["products"] = _known_listings(rows["orders"], engines)
    mall = JoinedTables(tables, ConsistencySettings(clock_tolerance_seconds=0))
    out = []
    for rule in RULES:
        field = SERVICE_RULES.get((rule.name, rule.table))
        if field is None or not all(name in tables for name in rule.needs):
            continue
        for i in np.flatnonzero(rule.check(mall).broken).tolist():
            detail = _DETAILS[rule.name](mall, rows, rule.table, i, field)
            out.append(Problem(rule.table, i, field, f"{detail}: {rule.why}"))
    return out


def _batch_table(table: str, items: list[dict]) -> pa.Table:
    """The columns the rules read of a batch's rows (timestamps stay epoch ms)."""
    contract = TABLES[table]
    schema = pa.schema([pa.field(c, pa.int64() if c == "timestamp" else contract.schema.field(c).type)
                        for c in COLUMNS[table]])
    return pa.Table.from_pylist([{c: r[c] for c in COLUMNS[table]} for r in items], schema=schema)


def _known_listings(orders: list[dict], engines: list[Engine]) -> pa.Table:
    """The (product_id, store_id) of the batch's ordered products in the loaded catalogs (the
    first bundle that knows a product names its store)."""
    ids = np.unique(np.array([r["product_id"] for r in orders], dtype=np.int64))
    store = np.full(len(ids), -1, dtype=np.int64)
    for e in engines:
        products = e.snapshot.products
        at = products.rows(ids)
        found = (at >= 0) & (store < 0)
        store[found] = products.columns["store_id"][at[found]]
    known = store >= 0  # the rule reads no listing time: only the two columns it joins
    return pa.table({"product_id": ids[known], "store_id": store[known].astype(np.int32)})


def _first_of_group(mall: JoinedTables, table: str, i: int) -> int:
    groups = mall.pages if table == "impressions" else mall.orders.lines
    return int(groups.first_rows()[groups.group_of_row[i]])


def _disagrees(mall: JoinedTables, rows: dict, table: str, i: int, field: str) -> str:
    j = _first_of_group(mall, table, i)
    key = "request_id" if table == "impressions" else "order_id"
    return (f"{rows[table][i][field]!r} disagrees with {table} row {j} of the same {key} "
            f"({rows[table][j][field]!r})")


def _not_the_cards_shopper(mall: JoinedTables, rows: dict, table: str, i: int, field: str) -> str:
    r, card = rows[table][i], rows["impressions"][int(mall.cards(table)[i])]
    return (f"{r['user_id']} is not the shopper of request {r['request_id']} ({card['user_id']}, in this "
            "batch's impressions)")


def _not_the_cards_position(mall: JoinedTables, rows: dict, table: str, i: int, field: str) -> str:
    r, card = rows[table][i], rows["impressions"][int(mall.cards(table)[i])]
    return (f"{r['position']}, but this batch's impressions show product {r['product_id']} at position "
            f"{card['position']} of request {r['request_id']}")


def _not_the_seller(mall: JoinedTables, rows: dict, table: str, i: int, field: str) -> str:
    r = rows[table][i]
    seller = int(mall.col("products", "store_id")[mall.products.rows(np.array([r["product_id"]]))[0]])
    return f"{r['store_id']}, but product {r['product_id']} is sold by store {seller} (the bundle's catalog)"


_DETAILS: dict[str, Callable[[JoinedTables, dict, str, int, str], str]] = {
    "page_disagrees_on_user": _disagrees, "page_disagrees_on_query": _disagrees,
    "lines_disagree_on_buyer": _disagrees, "lines_disagree_on_store": _disagrees,
    "user_differs_from_impression": _not_the_cards_shopper,
    "position_differs_from_impression": _not_the_cards_position,
    "store_differs_from_listing": _not_the_seller,
}


def against_catalog(rows: dict[str, list[dict]], engines: list[Engine]) -> list[Problem]:
    """Products and stores against the loaded bundles' catalogs (see the module docstring)."""
    covered_until = max(e.snapshot.as_of_ms for e in engines) - CLOCK_SKEW_MS
    out = []
    for table, items in rows.items():
        if not items:
            continue
        ts = np.array([r["timestamp"] for r in items], dtype=np.int64)
        old = ts < covered_until
        for name, entity in (("product_id", "products"), ("user_id", "users")):
            ids = np.array([-1 if r[name] is None else r[name] for r in items], dtype=np.int64)
            known = ids < 0  # an anonymous shopper (session only) names no user
            for e in engines:
                known |= getattr(e.snapshot, entity).rows(ids) >= 0
            for i in np.flatnonzero(old & ~known).tolist():
                out.append(Problem(table, i, name, f"{int(ids[i])} is in none of the loaded bundles' "
                                   f"{entity}, which hold every one known before this event's time"))
    return out
