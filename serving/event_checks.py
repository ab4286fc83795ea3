"""What ``POST /v1/events`` refuses beyond each row's own types and bounds.

The rule is to refuse what contradicts something the service knows (another row of the
same batch, or the catalog of a loaded bundle) and would later be counted wrongly or
dropped without a word; never what is merely absent from the batch (an impression posted
in an earlier batch, a product newer than the bundle). Each problem is a :class:`Problem`
naming the table, the row index and the field; the endpoint turns the first into a 422.

* a table's unique key repeated within the batch (one click per card of a page, ...)
* an impression on ``search`` without a ``query_id``, or one off search with one (training
  reads the query of a search page from it; a homepage card with a query would be
  featurised as a search result)
* impressions of one ``request_id`` that disagree on ``user_id``, ``surface`` or
  ``query_id`` (a page is one shopper's, on one surface, for one query: training takes
  them from the page's first card)
* a click, cart or order whose ``request_id`` has impressions in the batch but another
  ``user_id``; a click at another ``position`` than the one its product was shown at
* order lines of one ``order_id`` with different ``user_id`` (an order has one buyer)
* an order line whose ``store_id`` is not the store that sells the product in the
  bundle's catalog (a listing never changes store; the store scores would credit another)
* a ``product_id`` or ``user_id`` that no loaded bundle knows, on an event dated before
  the newest bundle's snapshot less the one-day clock skew: that bundle's catalog and
  user table hold every product listed and user signed up by then, so the id can only be
  wrong (it would fail the dataset's foreign keys and drop out of every count). A later
  event may name a product listed, or a user signed up, after the bundle was built:
  accepted, and checked against the dataset's own catalog by ``shelfrank validate`` after
  ``merge-events``. Without a loaded bundle, the catalog checks are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ranking.contracts.io import repeated_rows
from ranking.contracts.tables import TABLES
from ranking.engine import Engine
from serving.schemas import CLOCK_SKEW_MS

PAGE_FIELDS = ("user_id", "surface", "query_id")


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


def batch_problems(rows: dict[str, list[dict]], engines: Iterable[Engine] = ()) -> list[Problem]:
    """Every problem of a batch of contract-valid rows (per table, in row order)."""
    problems = repeated_keys(rows)
    problems += impression_pages(rows.get("impressions", []))
    problems += events_against_pages(rows)
    problems += order_buyers(rows.get("orders", []))
    engines = list(engines)
    if engines:
        problems += against_catalog(rows, engines)
    return problems


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
        for name in PAGE_FIELDS:
            if r[name] != impressions[j][name]:
                out.append(Problem("impressions", i, name, f"{r[name]!r} disagrees with impressions row "
                                   f"{j} of the same request_id ({impressions[j][name]!r}): one page "
                                   "is one shopper's, on one surface, for one query"))
    return out


def events_against_pages(rows: dict[str, list[dict]]) -> list[Problem]:
    """Clicks, carts and orders against the impressions of their page in the same batch."""
    impressions = rows.get("impressions", [])
    if not impressions:
        return []
    user = {r["request_id"]: r["user_id"] for r in impressions}
    shown_at = {(r["request_id"], r["product_id"]): r["position"] for r in impressions}
    out = []
    for table in ("clicks", "carts", "orders"):
        for i, r in enumerate(rows.get(table, [])):
            page = r["request_id"]
            if page in user and r["user_id"] != user[page]:
                out.append(Problem(table, i, "user_id", f"{r['user_id']} is not the shopper of request "
                                   f"{page} ({user[page]}, in this batch's impressions)"))
            position = shown_at.get((page, r["product_id"]))
            if table == "clicks" and position is not None and r["position"] != position:
                out.append(Problem(table, i, "position", f"{r['position']}, but this batch's impressions "
                                   f"show product {r['product_id']} at position {position} of request "
                                   f"{page}"))
    return out


def order_buyers(orders: list[dict]) -> list[Problem]:
    out = []
    buyer: dict[int, tuple[int, int]] = {}
    for i, r in enumerate(orders):
        j, user = buyer.setdefault(r["order_id"], (i, r["user_id"]))
        if r["user_id"] != user:
            out.append(Problem("orders", i, "user_id", f"{r['user_id']} disagrees with orders row {j} of "
                               f"the same order_id ({user}): an order has one buyer"))
    return out


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
            ids = np.array([r[name] for r in items], dtype=np.int64)
            known = np.zeros(len(ids), dtype=bool)
            for e in engines:
                known |= getattr(e.snapshot, entity).rows(ids) >= 0
            for i in np.flatnonzero(old & ~known).tolist():
                out.append(Problem(table, i, name, f"{int(ids[i])} is in none of the loaded bundles' "
                                   f"{entity}, which hold every one known before this event's time"))
        if "store_id" in items[0]:
            out += _store_mismatches(table, items, engines)
    return out


def _store_mismatches(table: str, items: list[dict], engines: list[Engine]) -> list[Problem]:
    ids = np.array([r["product_id"] for r in items], dtype=np.int64)
    store = np.full(len(ids), -1, dtype=np.int64)
    for e in engines:
        products = e.snapshot.products
        rows = products.rows(ids)
        found = (rows >= 0) & (store < 0)
        store[found] = products.columns["store_id"][rows[found]]
    out = []
    for i, r in enumerate(items):
        if store[i] >= 0 and r["store_id"] != store[i]:
            out.append(Problem(table, i, "store_id", f"{r['store_id']}, but product {r['product_id']} is "
                               f"sold by store {int(store[i])} (the bundle's catalog)"))
    return out
