"""The catalog change tables: what a product upsert, a ban and a store addition may say.

Three tables of the durable event log (:mod:`ranking.event_log`, one folder each under
``serving.events_dir``), written by ``PUT /v1/catalog/products``, ``POST /v1/catalog/bans``,
``PUT /v1/catalog/stores`` and ``shelfrank catalog apply``, replayed by every worker
(:mod:`ranking.live.catalog_follower`) and folded into training by ``merge-events``:

* ``catalog_products``: one line per product upsert. A product the catalog does not know
  yet must carry every column of the ``products`` contract (``banned`` defaults to false,
  ``listed_at`` to the change time); a known product may send only ``product_id`` and the
  columns that change. Its ``store_id`` never changes.
* ``catalog_bans``: one line per ban request: ``product_ids``, ``store_ids``, ``reason``,
  ``unban``.
* ``catalog_stores``: one line per store, a ``stores`` contract row.

Every line carries ``changed_ms`` (when the change happened at its source: the row's
``changed_at``, epoch ms or ISO 8601, or when the service received it) beside the log's own
``_client`` and ``_received_ms``. :func:`check_products`, :func:`check_ban` and
:func:`check_stores` check rows against the contracts and what the catalog knows
(:class:`KnownCatalog`) and return them normalised, or raise :class:`CatalogInputError`
listing every problem with its place (row, field), so a bad batch changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa

from ranking.contracts.tables import PRODUCTS, STORES, TIMESTAMP, Column, TableContract

PRODUCT_CHANGES, BANS, STORE_CHANGES = "catalog_products", "catalog_bans", "catalog_stores"
CATALOG_TABLES = (PRODUCT_CHANGES, BANS, STORE_CHANGES)
CHANGED_KEY = "changed_ms"  # per line: when the change happened (epoch ms)
CHANGED_FIELD = "changed_at"  # what a caller may send for it
# a new product may leave these out (listed_at: the change time): banned, and the contract's
# optional columns (the trust and offer attributes, subsidy depth)
DEFAULTED = {"banned": False, **{c.name: c.default for c in PRODUCTS.columns if c.default is not None}}
# the product columns a change lays over the served snapshot (ranking.live.catalog_overlay):
# prices, stock, the subsidy flag, bans, the comparable group, and the trust and offer
# attributes with subsidy depth (a merchant turning free shipping on changes the card's badge)
OVERLAID = ("price", "list_price", "stock", "subsidy", "banned", "comparable_group_id",
            *(c.name for c in PRODUCTS.columns if c.default is not None))
MAX_TEXT = 1000
_INT_BITS = {pa.int8(): 8, pa.int16(): 16, pa.int32(): 32, pa.int64(): 64}


@dataclass(frozen=True)
class CatalogProblem:
    """One refused value: where (``["body", row, field]``) and why."""

    loc: list
    msg: str


class CatalogInputError(ValueError):
    """Catalog rows that cannot be taken; :attr:`problems` names each place and reason."""

    def __init__(self, problems: list[CatalogProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in problems[:20]))


class KnownCatalog(Protocol):
    """What the checks ask of the catalog being served (the bundle plus the changes so far)."""

    def store_of(self, product_id: int) -> int | None: ...

    def has_store(self, store_id: int) -> bool: ...

    def has_leaf(self, category_id: int) -> bool: ...

    def has_brand(self, brand_id: int) -> bool: ...


def to_epoch_ms(value: Any) -> int:
    """An epoch-ms integer or an ISO 8601 string (UTC when it names no zone) as epoch ms."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("before 1970")
        return value
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    raise ValueError(f"not epoch milliseconds or an ISO 8601 time: {type(value).__name__}")


def check_value(col: Column, value: Any) -> Any:
    """``value`` as ``col`` of the contract holds it; ValueError saying why not."""
    kind = col.type
    if value is None:
        raise ValueError("missing (null)")
    if pa.types.is_timestamp(kind):
        return to_epoch_ms(value)
    if pa.types.is_boolean(kind):
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, not {type(value).__name__}")
        return value
    if pa.types.is_string(kind):
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
            raise ValueError(f"must be a non-empty text of at most {MAX_TEXT} characters")
        return value
    if pa.types.is_integer(kind):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, not {type(value).__name__}")
        bits = _INT_BITS[kind]
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise ValueError(f"out of the {bits}-bit integer range")
    elif pa.types.is_floating(kind):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("must be a finite number")
        value = float(value)
    if col.min is not None and value < col.min:
        raise ValueError(f"below {col.min}")
    if col.max is not None and value > col.max:
        raise ValueError(f"above {col.max}")
    return value


def _changed(row: dict, received_ms: int, where: list, problems: list[CatalogProblem]) -> int:
    if row.get(CHANGED_FIELD) is None:
        return received_ms
    try:
        return to_epoch_ms(row[CHANGED_FIELD])
    except (ValueError, TypeError) as exc:
        problems.append(CatalogProblem([*where, CHANGED_FIELD], str(exc)))
        return received_ms


def _fields(row: Any, where: list, allowed: set[str], problems: list[CatalogProblem]) -> dict | None:
    if not isinstance(row, dict):
        problems.append(CatalogProblem(where, "must be a JSON object"))
        return None
    for name in row:
        if name not in allowed:
            problems.append(CatalogProblem([*where, name],
                                           f"unknown field; the fields are {sorted(allowed)}"))
    return row


def _product_problems(row: dict, where: list, known: KnownCatalog, out: dict,
                      problems: list[CatalogProblem]) -> bool:
    """Check one product row into ``out``; return whether the product is new."""
    pid = out.get("product_id")
    was_store = known.store_of(pid) if isinstance(pid, int) else None
    new = was_store is None
    if new:
        for col in PRODUCTS.columns:
            if col.name not in row and col.name not in DEFAULTED and col.name != "listed_at":
                problems.append(CatalogProblem([*where, col.name], "required for a new product"))
    elif "store_id" in out and out["store_id"] != was_store:
        problems.append(CatalogProblem([*where, "store_id"], f"a product's store never changes (it is "
                                                             f"{was_store})"))
    refs = (("store_id", known.has_store, "no such store"), ("category_id", known.has_leaf,
            "no such leaf category"), ("brand_id", known.has_brand, "no such brand"))
    for name, has, why in refs:
        if name in out and (new or name != "store_id") and not has(out[name]):
            problems.append(CatalogProblem([*where, name], why))
    return new


def check_products(rows: list, known: KnownCatalog, received_ms: int) -> tuple[list[dict], int]:
    """Product upserts as they are logged, and how many are new products; CatalogInputError."""
    problems: list[CatalogProblem] = []
    allowed = {c.name for c in PRODUCTS.columns} | {CHANGED_FIELD}
    out, new, seen_new = [], 0, set()
    for i, raw in enumerate(rows):
        where = ["body", i]
        row = _fields(raw, where, allowed, problems)
        if row is None:
            continue
        clean: dict[str, Any] = {}
        for name, value in row.items():
            if name in allowed and name != CHANGED_FIELD:
                try:
                    clean[name] = check_value(PRODUCTS.column(name), value)
                except (ValueError, TypeError) as exc:
                    problems.append(CatalogProblem([*where, name], str(exc)))
        if "product_id" not in row:
            problems.append(CatalogProblem([*where, "product_id"], "required"))
            continue
        changed = _changed(row, received_ms, where, problems)
        is_new = clean.get("product_id") not in seen_new and _product_problems(row, where, known, clean,
                                                                                 problems)
        if is_new:
            seen_new.add(clean.get("product_id"))
            clean = {**DEFAULTED, "listed_at": changed, **clean}
            new += 1
        out.append({**clean, CHANGED_KEY: changed})
    if problems:
        raise CatalogInputError(problems)
    return out, new


def check_ban(body: Any, known: KnownCatalog, received_ms: int, max_ids: int) -> dict:
    """One ban request as it is logged; CatalogInputError naming each bad field or id."""
    problems: list[CatalogProblem] = []
    allowed = {"product_ids", "store_ids", "reason", "unban", CHANGED_FIELD}
    body = _fields(body, ["body"], allowed, problems)
    if body is None:
        raise CatalogInputError(problems)
    out: dict[str, Any] = {"unban": body.get("unban", False)}
    if not isinstance(out["unban"], bool):
        problems.append(CatalogProblem(["body", "unban"], "must be true or false"))
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_TEXT:
        problems.append(CatalogProblem(["body", "reason"], f"required: a non-empty text of at most "
                                                           f"{MAX_TEXT} characters"))
    out["reason"] = reason
    checks = (("product_ids", lambda p: known.store_of(p) is not None), ("store_ids", known.has_store))
    for name, has in checks:
        ids = body.get(name, [])
        if not isinstance(ids, list) or any(isinstance(x, bool) or not isinstance(x, int) for x in ids):
            problems.append(CatalogProblem(["body", name], "must be a list of integer ids"))
            ids = []
        unknown = [x for x in ids if not has(x)]
        if unknown:
            problems.append(CatalogProblem(["body", name], f"unknown ids: {unknown[:20]}"))
        out[name] = sorted(set(ids))
    if not out["product_ids"] and not out["store_ids"] and not problems:
        problems.append(CatalogProblem(["body", "product_ids"], "name at least one product or store"))
    if len(out["product_ids"]) + len(out["store_ids"]) > max_ids:
        problems.append(CatalogProblem(["body"], f"over catalog.max_ban_ids={max_ids} ids"))
    out[CHANGED_KEY] = _changed(body, received_ms, ["body"], problems)
    if problems:
        raise CatalogInputError(problems)
    return out


def check_stores(rows: list, known: KnownCatalog, received_ms: int) -> tuple[list[dict], int]:
    """Store rows as they are logged, and how many are new stores; CatalogInputError."""
    problems: list[CatalogProblem] = []
    allowed = {c.name for c in STORES.columns} | {CHANGED_FIELD}
    out, new = [], 0
    for i, raw in enumerate(rows):
        where = ["body", i]
        row = _fields(raw, where, allowed, problems)
        if row is None:
            continue
        clean: dict[str, Any] = {}
        for col in STORES.columns:
            if col.name not in row:
                problems.append(CatalogProblem([*where, col.name], "required"))
                continue
            try:
                clean[col.name] = check_value(col, row[col.name])
            except (ValueError, TypeError) as exc:
                problems.append(CatalogProblem([*where, col.name], str(exc)))
        if "store_id" in clean and not known.has_store(clean["store_id"]):
            new += 1
        out.append({**clean, CHANGED_KEY: _changed(row, received_ms, where, problems)})
    if problems:
        raise CatalogInputError(problems)
    return out, new


PRODUCT_CHANGES_HISTORY = TableContract(
    "product_changes",
    "one catalog change of one product, as the service logged it (merge-events writes it beside the "
    "merged products table, so training can see prices, stock and bans as they were at any moment)",
    (
        Column("product_id", pa.int64(), "the product changed"),
        Column("changed_at", TIMESTAMP, "when the change happened (changed_at, else when it was received)"),
        Column("received_at", TIMESTAMP, "when the service received it", nullable=True),
        Column("kind", pa.string(), "what changed",
               allowed=("upsert", "ban", "unban", "store_ban", "store_unban")),
        Column("price", pa.float64(), "the new price (upsert), null when unchanged", nullable=True),
        Column("list_price", pa.float64(), "the new list price, null when unchanged", nullable=True),
        Column("stock", pa.int32(), "the new stock, null when unchanged", nullable=True),
        Column("subsidy", pa.bool_(), "the new subsidy flag, null when unchanged", nullable=True),
        Column("banned", pa.bool_(), "banned from this moment (its own ban or its store's), null when "
               "unchanged", nullable=True),
        Column("reason", pa.string(), "a ban's reason", nullable=True),
        Column("client", pa.string(), "who sent it", nullable=True),
    ),
    group="service",
)


PRODUCT_ORIGINALS = TableContract(
    "product_originals",
    "a product's catalog values before its first logged change (merge-events writes it beside "
    "product_changes: the merged products table holds the state after the last change, so a request "
    "before the first change is trained with these)",
    (
        Column("product_id", pa.int64(), "the product changed"),
        Column("price", pa.float64(), "its price before the first change"),
        Column("list_price", pa.float64(), "its list price before the first change"),
        Column("stock", pa.int32(), "its stock before the first change"),
        Column("subsidy", pa.bool_(), "its subsidy flag before the first change"),
        Column("banned", pa.bool_(), "its own ban before the first change (a store ban is a change)"),
    ),
    group="service",
    unique=("product_id",),
)
