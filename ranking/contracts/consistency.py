"""Cross-table consistency: the tables of a dataset must tell one story.

Every table can meet its contract (columns, types, bounds, unique key, foreign keys) while
the tables contradict each other: a click on a card no impression shows (the label join
drops it without a word), a click by another shopper than the one the card was shown to, an
order line credited to a store that does not sell the product, a review of an order by
someone who did not buy it, a parcel delivered before it shipped. The labels, the store
experience score and the product score are computed from exactly these joins, so such a
row is counted wrongly or silently lost.

Each rule is one small function of a :class:`JoinedTables` (the dataset's tables, with the
joins the rules share computed once and cached) returning a :class:`Breach`: the rows of
one table that break it, of the rows it could check. :data:`RULES` lists every rule with
its table, severity and why; :func:`check_consistency` runs them and returns a
:class:`Finding` per broken rule (rule, table, severity, how many rows, a few example keys).

Severity is honest about real logs:

* ``error``: a contradiction no correct log holds (a store mismatch, delivered before
  shipped, a review by someone else, an event dated before what it follows by more than
  ``consistency.clock_tolerance_seconds``). ``shelfrank validate`` fails on it.
* ``warning``: what real logs legitimately hold a little of: a click, cart or attributed
  order whose card is not in the impressions (exposure logging loses its last unflushed
  half second when a worker dies; an order attributed to a page may be of another product
  than the cards shown); a return or review dated before its parcel's delivery (a shopper
  confirming receipt before the carrier's scan). It is reported with its share, and becomes
  an error above ``consistency.max_unmatched_share`` (exposure logging off or broken, not a
  lost flush; after-sale clocks shifted, not a late scan), once at least
  ``consistency.min_unmatched_rows`` are (a merge of three clicks that lost one is not a
  broken log).

A rule only judges rows whose references resolve (an unknown product or order is the
foreign-key check's finding, never counted twice here). Everything is vectorised numpy over
whole columns (a rule over the 100M impressions goes a block of 8M rows at a time). Events
find their card by walking their request's page, one vector step per slot, never per row:
the impressions grouped by ``request_id`` (the order the simulator and the service write
them; one stable argsort otherwise), a click trying its own slot first. ``bench_contracts``
measures the pass (``consistency_<scale>_seconds``): 1.4 s on the default mall's 12M rows,
9.7 s on the large mall's 122M (100M impressions, 10M clicks), on 2 cores; the two page
rules are about 2 s of that on the large mall.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ranking.contracts.tables import TABLES
from ranking.settings import ConsistencySettings

Severity = Literal["error", "warning"]
_T = TypeVar("_T")
NO_ROW = -1
_NO_ID = np.iinfo(np.int64).min  # an id no table holds (an unattributed order's request)
BLOCK_ROWS = 1 << 23  # rows per block of a rule over a big table (8M: ~100 MB of temporaries)

# the columns the rules read, per table (validate keeps only these and the foreign keys)
COLUMNS: dict[str, tuple[str, ...]] = {
    "stores": ("store_id", "opened_at"),
    "products": ("product_id", "store_id", "listed_at"),
    "users": ("user_id", "signup_at"),
    "impressions": ("request_id", "timestamp", "user_id", "query_id", "product_id", "position"),
    "clicks": ("request_id", "timestamp", "user_id", "product_id", "position"),
    "carts": ("request_id", "timestamp", "user_id", "product_id"),
    "orders": ("order_id", "request_id", "timestamp", "user_id", "product_id", "store_id", "cancelled"),
    "shipments": ("order_id", "store_id", "shipped_at", "delivered_at"),
    "returns": ("order_id", "timestamp", "product_id", "store_id"),
    "reviews": ("order_id", "timestamp", "user_id", "product_id", "store_id"),
    "service_tickets": ("ticket_id", "order_id", "store_id", "opened_at"),
}
TIME_COLUMN = {"shipments": "shipped_at", "service_tickets": "opened_at"}  # else "timestamp"


@dataclass(frozen=True)
class Breach:
    """What a rule found in its table: the rows breaking it, of the rows it applies to."""

    broken: np.ndarray  # bool per row of the table
    checked: np.ndarray | None = None  # bool per row: the rows the rule could judge; None = all


@dataclass(frozen=True)
class Finding:
    """A broken rule: which, in which table, how many rows (of how many checked), examples."""

    rule: str
    table: str
    severity: Severity
    rows: int
    checked: int
    examples: tuple[str, ...]
    why: str

    @property
    def share(self) -> float:
        return self.rows / self.checked if self.checked else 0.0

    def message(self) -> str:
        shown = "; ".join(self.examples)
        return (f"{self.table}: {self.rows:,} of {self.checked:,} row(s) ({self.share:.3%}) break "
                f"{self.rule}: {self.why} (e.g. {shown})")


@dataclass(frozen=True)
class Rule:
    """One rule of one table: its check, its severity and why it matters in the mall."""

    name: str
    table: str
    severity: Severity
    why: str
    needs: tuple[str, ...]
    check: Callable[[JoinedTables], Breach] = field(repr=False)
    # a warning only up to consistency.max_unmatched_share of the table, an error above
    escalates: bool = False

    def find(self, mall: JoinedTables, since: int = 0) -> Finding | None:
        """The finding on ``mall`` (None when no row breaks the rule); with ``since``, only
        rows from that position on count (the rows a merge appended)."""
        breach = self.check(mall)
        broken = breach.broken[since:]
        rows = int(broken.sum())
        if rows == 0:
            return None
        checked = (len(broken) if breach.checked is None else int(breach.checked[since:].sum()))
        severity = self.severity
        if (self.escalates and rows > mall.limits.max_unmatched_share * checked
                and rows >= mall.limits.min_unmatched_rows):
            severity = "error"
        at = np.flatnonzero(broken)[: mall.limits.examples] + since
        return Finding(self.name, self.table, severity, rows, checked, mall.example_keys(self.table, at),
                       self.why)


def check_consistency(tables: Mapping[str, pa.Table], limits: ConsistencySettings | None = None,
                      since: Mapping[str, int] | None = None, only: Iterable[str] | None = None,
                      progress: Callable[[Rule], None] | None = None) -> list[Finding]:
    """Every broken rule of a dataset's ``tables`` (rules whose tables are absent are skipped).

    ``since`` maps a table to the first of its rows to judge and ``only`` names the tables
    whose rules run (``merge-events``: the rows it appended to the logged tables);
    ``progress`` is called before each rule runs.
    """
    mall = JoinedTables(tables, limits or ConsistencySettings())
    since = since or {}
    judged = set(only) if only is not None else set(tables)
    findings = []
    for rule in applicable_rules(tables):
        if rule.table not in judged:
            continue
        if progress is not None:
            progress(rule)
        found = rule.find(mall, since.get(rule.table, 0))
        if found is not None:
            findings.append(found)
    return findings


def applicable_rules(tables: Mapping[str, pa.Table]) -> list[Rule]:
    """The rules whose tables are all present."""
    return [r for r in RULES if all(name in tables for name in r.needs)]


class KeyIndex:
    """The row of each id in a column of distinct ids (products.product_id, ...): one array
    subtraction when the ids are dense and in order (as the simulator writes them), else a
    binary search of a sorted copy."""

    def __init__(self, ids: np.ndarray) -> None:
        self.n = len(ids)
        self.first = int(ids[0]) if self.n else 0
        self.dense = bool(self.n) and bool((ids == np.arange(self.first, self.first + self.n)).all())
        if not self.dense:
            self.order = np.argsort(ids, kind="stable")
            self.sorted = ids[self.order]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The row of each of ``ids``; ``NO_ROW`` for an id the column does not hold."""
        if self.dense:
            at = ids - self.first
            return np.where((at >= 0) & (at < self.n), at, NO_ROW)
        if self.n == 0:
            return np.full(len(ids), NO_ROW, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.sorted, ids), self.n - 1)
        return np.where(self.sorted[at] == ids, self.order[at], NO_ROW)


class Groups:
    """The rows of a table grouped by a key (impressions by request_id, order lines by
    order_id): in key order (``order`` puts them there; None when the table already is, as
    the simulator and the service write it), group ``i`` (key ``ids[i]``) is the rows
    ``bounds[i]:bounds[i + 1]``."""

    def __init__(self, keys: np.ndarray) -> None:
        self.order = None if _non_decreasing(keys) else np.argsort(keys, kind="stable")
        in_order = self.sorted(keys)
        new = np.ones(len(keys), dtype=bool)
        new[1:] = in_order[1:] != in_order[:-1]
        starts = np.flatnonzero(new)
        self.ids = in_order[starts]
        self.bounds = np.append(starts, len(keys))
        self.index = KeyIndex(self.ids)

    @cached_property
    def group_of_row(self) -> np.ndarray:
        """Per table row: its group."""
        in_order = np.repeat(np.arange(len(self.ids)), np.diff(self.bounds))
        if self.order is None:
            return in_order
        group = np.empty_like(in_order)
        group[self.order] = in_order
        return group

    def sorted(self, values: np.ndarray) -> np.ndarray:
        """A column of the table in key order."""
        return values if self.order is None else values[self.order]

    def first_rows(self) -> np.ndarray:
        """The table row of each group's first row (in table order, the sort being stable)."""
        return self.row(self.bounds[:-1])

    def row(self, sorted_rows: np.ndarray) -> np.ndarray:
        """The table rows of positions in key order."""
        return sorted_rows if self.order is None else self.order[sorted_rows]

    def first_match(self, keys: np.ndarray, same: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    hint: np.ndarray | None = None) -> np.ndarray:
        """Per key: the first table row of its group for which ``same(rows, which)`` holds
        (``which`` are the positions in ``keys`` being tried), or ``NO_ROW``. One vector step
        per row of the largest group (a page's cards, an order's lines), never one per key;
        ``hint`` (per key, an offset into its group, e.g. a click's slot) is tried first."""
        group = self.index.rows(keys)
        has = group != NO_ROW
        lo = np.where(has, self.bounds[np.maximum(group, 0)], 0)
        hi = np.where(has, self.bounds[np.maximum(group, 0) + 1], 0)
        found = np.full(len(keys), NO_ROW, dtype=np.int64)
        if hint is not None:
            tried = np.flatnonzero((hint >= 0) & (lo + hint < hi))
            at = self.row(lo[tried] + hint[tried])
            hit = same(at, tried)
            found[tried[hit]] = at[hit]
        active = np.flatnonzero((hi > lo) & (found == NO_ROW))
        step = 0
        while len(active):
            at = self.row(lo[active] + step)
            hit = same(at, active)
            found[active[hit]] = at[hit]
            step += 1
            active = active[~hit & (lo[active] + step < hi[active])]
        return found


def _non_decreasing(values: np.ndarray) -> bool:
    return len(values) < 2 or bool((values[1:] >= values[:-1]).all())


@dataclass(frozen=True)
class Orders:
    """Per order (its lines grouped by order_id): the first line's buyer and store, when it
    was paid (its earliest line) and whether the store cancelled every line."""

    lines: Groups
    buyer: np.ndarray
    store: np.ndarray
    paid_at: np.ndarray
    all_cancelled: np.ndarray


class JoinedTables:
    """A dataset's tables as the rules read them: numpy columns (timestamps as epoch ms,
    nulls as -1) and the shared joins, each computed once on first use."""

    def __init__(self, tables: Mapping[str, pa.Table], limits: ConsistencySettings) -> None:
        self.tables = tables
        self.limits = limits
        self.tolerance_ms = int(limits.clock_tolerance_seconds * 1000)
        self._columns: dict[tuple[str, str], np.ndarray] = {}
        self._derived: dict[str, Any] = {}

    def col(self, table: str, name: str) -> np.ndarray:
        """One column as numpy; timestamps as int64 epoch ms; a null as -1."""
        key = (table, name)
        if key not in self._columns:
            arr = self.tables[table].column(name)
            if pa.types.is_timestamp(arr.type):
                arr = arr.cast(pa.int64())
            if arr.null_count:
                arr = pc.fill_null(arr, -1 if pa.types.is_integer(arr.type) else False)
            self._columns[key] = arr.to_numpy()
        return self._columns[key]

    def valid(self, table: str, name: str) -> np.ndarray:
        """Which rows hold a value in a nullable column."""
        return pc.is_valid(self.tables[table].column(name)).to_numpy(zero_copy_only=False)

    def time(self, table: str) -> np.ndarray:
        return self.col(table, TIME_COLUMN.get(table, "timestamp"))

    def rows_of(self, table: str) -> int:
        return self.tables[table].num_rows

    def example_keys(self, table: str, at: np.ndarray) -> tuple[str, ...]:
        """Rows ``at`` of ``table`` by their unique key (what an operator greps the log for)."""
        key = TABLES[table].unique or tuple(self.tables[table].column_names[:2])
        rows = self.tables[table].select(list(key)).take(pa.array(at, pa.int64())).to_pylist()
        return tuple(", ".join(f"{c} {r[c]}" for c in key) for r in rows)

    # -- the catalog and the people ----------------------------------------------------------

    @cached_property
    def products(self) -> KeyIndex:
        return KeyIndex(self.col("products", "product_id"))

    @cached_property
    def users(self) -> KeyIndex:
        return KeyIndex(self.col("users", "user_id"))

    @cached_property
    def stores(self) -> KeyIndex:
        return KeyIndex(self.col("stores", "store_id").astype(np.int64))


    def blockwise(self, table: str, block: Callable[[slice], tuple[np.ndarray, np.ndarray]]) -> Breach:
        """A breach computed a block of rows at a time (``block`` returns broken and checked for
        its rows), so a rule over the impressions never holds several 100M-row temporaries."""
        n = self.rows_of(table)
        broken, checked = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for lo in range(0, n, BLOCK_ROWS):
            rows = slice(lo, min(lo + BLOCK_ROWS, n))
            broken[rows], checked[rows] = block(rows)
        return Breach(broken, checked)

    # -- the cards shown (impressions) -------------------------------------------------------

    @cached_property
    def pages(self) -> Groups:
        """The impressions grouped by request: the cards of each page."""
        return Groups(self.col("impressions", "request_id"))

    def cards(self, table: str) -> np.ndarray:
        """Per row of clicks, carts or orders: the impressions row of its card (its request's
        impression of its product; for a click, the one at its position when the page showed
        the product twice), or ``NO_ROW`` (for an order line, also when it names no request)."""
        return self._cached(f"cards:{table}", lambda: self._find_cards(table))

    def _find_cards(self, table: str) -> np.ndarray:
        product, ev_product = self.col("impressions", "product_id"), self.col(table, "product_id")
        request = self.col(table, "request_id")
        if table == "orders":
            request = np.where(self.valid("orders", "request_id"), request, _NO_ID)
        if table != "clicks":
            return self.pages.first_match(request, lambda at, i: product[at] == ev_product[i])
        # a click names its slot: pages list their cards by slot, so one step finds nearly all
        position, ev_position = self.col("impressions", "position"), self.col("clicks", "position")
        card = self.pages.first_match(
            request, lambda at, i: (product[at] == ev_product[i]) & (position[at] == ev_position[i]),
            hint=ev_position.astype(np.int64) - 1)
        rest = np.flatnonzero(card == NO_ROW)  # not at its slot: any card of its product
        card[rest] = self.pages.first_match(request[rest], lambda at, i: product[at] == ev_product[rest[i]])
        return card

    def card_value(self, table: str, name: str) -> np.ndarray:
        """Per event row: the impressions' ``name`` of its card (meaningless where it has none)."""
        return self.col("impressions", name)[np.maximum(self.cards(table), 0)]

    # -- orders ------------------------------------------------------------------------------

    @cached_property
    def orders(self) -> Orders:
        lines = Groups(self.col("orders", "order_id"))
        first = lines.first_rows()
        starts = lines.bounds[:-1]
        if len(starts):
            paid = np.minimum.reduceat(lines.sorted(self.col("orders", "timestamp")), starts)
            shipped_any = np.logical_or.reduceat(~lines.sorted(self.col("orders", "cancelled")), starts)
        else:
            paid, shipped_any = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        return Orders(lines, self.col("orders", "user_id")[first],
                      self.col("orders", "store_id")[first].astype(np.int64), paid, ~shipped_any)

    @cached_property
    def delivered_at(self) -> np.ndarray:
        """Per order in :attr:`orders`: when its parcel was delivered (epoch ms), -1 when it
        has no shipment or is in transit (shipments are unique per order)."""
        parcel_order = self.order_of("shipments")
        has = (parcel_order != NO_ROW) & self.valid("shipments", "delivered_at")
        delivered = np.full(len(self.orders.paid_at), -1, dtype=np.int64)
        delivered[parcel_order[has]] = self.col("shipments", "delivered_at")[has]
        return delivered

    def order_of(self, table: str) -> np.ndarray:
        """Per row of an after-sale table: its order's position in :attr:`orders`, or ``NO_ROW``."""
        return self._cached(f"order_of:{table}",
                            lambda: self.orders.lines.index.rows(self.col(table, "order_id")))

    def order_line_with(self, table: str, name: str) -> np.ndarray:
        """Per row of an after-sale table: a line of its order with the same ``name`` (its
        store, product or buyer), or ``NO_ROW``."""
        lines, mine = self.col("orders", name), self.col(table, name)
        return self.orders.lines.first_match(self.col(table, "order_id"),
                                             lambda at, i: lines[at] == mine[i])

    def _cached(self, key: str, compute: Callable[[], _T]) -> _T:
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]


# -- the rules --------------------------------------------------------------------------------

def without_impression(mall: JoinedTables, table: str) -> Breach:
    """A click, cart or attributed order line whose request shows no card of its product."""
    checked = mall.valid("orders", "request_id") if table == "orders" else None
    missing = mall.cards(table) == NO_ROW
    return Breach(missing if checked is None else missing & checked, checked)


def click_position_differs(mall: JoinedTables) -> Breach:
    """A click at another position than the one its card was shown at."""
    card = mall.cards("clicks")
    shown_at = mall.card_value("clicks", "position")
    return Breach((card != NO_ROW) & (shown_at != mall.col("clicks", "position")), card != NO_ROW)


def user_differs_from_impression(mall: JoinedTables, table: str) -> Breach:
    """A click, cart or order line by another shopper than the one its card was shown to."""
    card = mall.cards(table)
    shown_to = mall.card_value(table, "user_id")
    return Breach((card != NO_ROW) & (shown_to != mall.col(table, "user_id")), card != NO_ROW)


def before_impression(mall: JoinedTables, table: str) -> Breach:
    """A click, cart or order line dated before its card was shown."""
    card = mall.cards(table)
    shown = mall.card_value(table, "timestamp")
    early = mall.time(table) < shown - mall.tolerance_ms
    return Breach((card != NO_ROW) & early, card != NO_ROW)


def before_listing(mall: JoinedTables, table: str) -> Breach:
    """An impression, click, cart or order line dated before its product was listed."""
    return _dated_before(mall, table, mall.products, "product_id", mall.col("products", "listed_at"))


def before_signup(mall: JoinedTables, table: str) -> Breach:
    """An impression, click, cart or order line by a shopper before they signed up."""
    return _dated_before(mall, table, mall.users, "user_id", mall.col("users", "signup_at"))


def _dated_before(mall: JoinedTables, table: str, entities: KeyIndex, id_column: str,
                  since: np.ndarray) -> Breach:
    """Rows of ``table`` dated before ``since`` of the entity their ``id_column`` names (rows
    naming an unknown entity are not judged), a block of rows at a time."""

    def block(rows: slice) -> tuple[np.ndarray, np.ndarray]:
        at = entities.rows(mall.col(table, id_column)[rows])
        known = at != NO_ROW
        return known & (mall.time(table)[rows] < since[np.maximum(at, 0)] - mall.tolerance_ms), known

    return mall.blockwise(table, block)


def listing_before_store_opened(mall: JoinedTables) -> Breach:
    """A product listed before the store that sells it opened on the mall."""
    row = mall.stores.rows(mall.col("products", "store_id").astype(np.int64))
    opened = mall.col("stores", "opened_at")[np.maximum(row, 0)]
    early = mall.col("products", "listed_at") < opened - mall.tolerance_ms
    return Breach((row != NO_ROW) & early, row != NO_ROW)


def order_store_differs_from_listing(mall: JoinedTables) -> Breach:
    """An order line credited to another store than the one that sells its product."""
    row = mall.products.rows(mall.col("orders", "product_id"))
    seller = mall.col("products", "store_id")[np.maximum(row, 0)]
    return Breach((row != NO_ROW) & (seller != mall.col("orders", "store_id")), row != NO_ROW)


def page_disagrees(mall: JoinedTables, name: str) -> Breach:
    """A card whose shopper (or query) is not its page's first card's: the impressions of one
    request posted in several batches, or by several frontends, disagreeing on who saw the page
    or what was searched (``/v1/events`` refuses that only within one batch)."""
    pages = mall.pages
    values = mall.col("impressions", name)
    first = values[pages.first_rows()]
    starts = pages.bounds[:-1]
    n = len(values)
    broken = np.zeros(n, dtype=bool)
    for lo in range(0, n, BLOCK_ROWS):  # page of each row a block at a time: no 100M-row index
        at = np.arange(lo, min(lo + BLOCK_ROWS, n))
        rows = pages.row(at)
        broken[rows] = values[rows] != first[np.searchsorted(starts, at, side="right") - 1]
    return Breach(broken)


def order_lines_disagree(mall: JoinedTables, name: str) -> Breach:
    """An order line whose buyer (or store) is not its order's first line's."""
    first = mall.orders.buyer if name == "user_id" else mall.orders.store
    return Breach(first[mall.orders.lines.group_of_row] != mall.col("orders", name))


def store_differs_from_order(mall: JoinedTables, table: str) -> Breach:
    """A shipment, return, review or ticket naming a store none of its order's lines names."""
    known = mall.order_of(table) != NO_ROW
    holds = mall.order_line_with(table, "store_id") != NO_ROW
    return Breach(known & ~holds, known)


def product_not_in_order(mall: JoinedTables, table: str) -> Breach:
    """A return or review of a product that is not a line of its order."""
    known = mall.order_of(table) != NO_ROW
    holds = mall.order_line_with(table, "product_id") != NO_ROW
    return Breach(known & ~holds, known)


def reviewer_is_not_buyer(mall: JoinedTables) -> Breach:
    """A review by someone who is not the order's buyer."""
    known = mall.order_of("reviews") != NO_ROW
    holds = mall.order_line_with("reviews", "user_id") != NO_ROW
    return Breach(known & ~holds, known)


def shipment_of_cancelled_order(mall: JoinedTables) -> Breach:
    """A shipment of an order every line of which the store cancelled before shipping."""
    at = mall.order_of("shipments")
    return Breach((at != NO_ROW) & mall.orders.all_cancelled[np.maximum(at, 0)], at != NO_ROW)


def shipped_before_paid(mall: JoinedTables) -> Breach:
    """A parcel handed to the carrier before its order was paid."""
    at = mall.order_of("shipments")
    paid = mall.orders.paid_at[np.maximum(at, 0)]
    early = mall.col("shipments", "shipped_at") < paid - mall.tolerance_ms
    return Breach((at != NO_ROW) & early, at != NO_ROW)


def delivered_before_shipped(mall: JoinedTables) -> Breach:
    """A parcel delivered before it was handed to the carrier."""
    delivered = mall.valid("shipments", "delivered_at")
    early = mall.col("shipments", "delivered_at") < mall.col("shipments", "shipped_at")
    return Breach(delivered & early, delivered)


def before_order(mall: JoinedTables, table: str) -> Breach:
    """A return, review or service ticket dated before its order was paid."""
    at = mall.order_of(table)
    paid = mall.orders.paid_at[np.maximum(at, 0)]
    return Breach((at != NO_ROW) & (mall.time(table) < paid - mall.tolerance_ms), at != NO_ROW)


def before_delivery(mall: JoinedTables, table: str) -> Breach:
    """A return or review dated before its order's parcel was delivered (of the rows dated
    after the order was paid and whose parcel has a delivery time: an earlier one is
    ``before_order``'s, an undelivered parcel is not judged)."""
    at = mall.order_of(table)
    delivered = mall.delivered_at
    order = np.maximum(at, 0)
    when, paid = mall.time(table), mall.orders.paid_at[order]
    checked = (at != NO_ROW) & (delivered[order] >= 0) & (when >= paid - mall.tolerance_ms)
    return Breach(checked & (when < delivered[order] - mall.tolerance_ms), checked)


def _rule(name: str, table: str, severity: Severity, why: str, check: Callable[..., Breach],
          needs: tuple[str, ...], *args: str, escalates: bool = False) -> Rule:
    def bound(mall: JoinedTables) -> Breach:
        return check(mall, *args)

    return Rule(name, table, severity, why, (table, *needs), bound, escalates)


_LOST = ("the label join on (request_id, product_id) drops it without a word: real logs hold a "
         "little (exposure logging loses its last unflushed half second when a worker dies)")
_EVENTS = ("clicks", "carts", "orders")
RULES: tuple[Rule, ...] = (
    _rule("without_impression", "clicks", "warning", "a click on a card no impression shows; " + _LOST,
          without_impression, ("impressions",), "clicks", escalates=True),
    _rule("without_impression", "carts", "warning", "an add-to-cart from a page that shows no card of "
          "its product; " + _LOST, without_impression, ("impressions",), "carts", escalates=True),
    _rule("without_impression", "orders", "warning", "an order line attributed to a page that shows "
          "no card of its product: it earns the page no order label (a shopper may buy another item "
          "than the cards shown)", without_impression, ("impressions",), "orders", escalates=True),
    _rule("position_differs_from_impression", "clicks", "error", "a click at another position than "
          "its card was shown at: the log disagrees with itself on where the card was (training "
          "takes the impression's slot; anything reading the click's own gets another)",
          click_position_differs, ("impressions",)),
    *(_rule("user_differs_from_impression", t, "error", "done by another shopper than the one the "
            "card was shown to: personal features and per-user counts credit the wrong shopper",
            user_differs_from_impression, ("impressions",), t) for t in _EVENTS),
    *(_rule("before_impression", t, "error", "dated before its card was shown (beyond the clock "
            "tolerance): the event cannot have come from that page", before_impression,
            ("impressions",), t) for t in _EVENTS),
    *(_rule("before_listing", t, "error", "dated before its product was listed: the product could "
            "not be shown or sold yet", before_listing, ("products",), t)
      for t in ("impressions", *_EVENTS)),
    *(_rule("before_signup", t, "error", "by a shopper before they signed up: the user id is wrong "
            "or the signup time is", before_signup, ("users",), t) for t in ("impressions", *_EVENTS)),
    _rule("listed_before_store_opened", "products", "error", "a listing live before its store opened "
          "on the mall: the store's age (new-store exploration) or the listing time is wrong",
          listing_before_store_opened, ("stores",)),
    _rule("store_differs_from_listing", "orders", "error", "an order line credited to another store "
          "than the one selling its product (a listing never changes store): the store experience "
          "score credits the wrong store", order_store_differs_from_listing, ("products",)),
    _rule("page_disagrees_on_user", "impressions", "error", "a card shown to another shopper than "
          "the rest of its page (a page is one shopper's view): personal features, labels and the "
          "experiment's per-user split read the wrong shopper", page_disagrees, (), "user_id"),
    _rule("page_disagrees_on_query", "impressions", "error", "a card of another search than the "
          "rest of its page, or of a search on a page that was none: query features and relevance "
          "labels join the wrong query", page_disagrees, (), "query_id"),
    _rule("lines_disagree_on_buyer", "orders", "error", "lines of one order with different buyers: an "
          "order has one buyer", order_lines_disagree, (), "user_id"),
    _rule("lines_disagree_on_store", "orders", "error", "lines of one order from different stores: an "
          "order has one shipment from one store", order_lines_disagree, (), "store_id"),
    *(_rule("store_differs_from_order", t, "error", "names a store none of its order's lines names: "
            "the store experience score charges the wrong store", store_differs_from_order,
            ("orders",), t) for t in ("shipments", "returns", "reviews", "service_tickets")),
    *(_rule("product_not_in_order", t, "error", "names a product that is not a line of its order: "
            "the product score's return and rating rates count the wrong product",
            product_not_in_order, ("orders",), t) for t in ("returns", "reviews")),
    _rule("reviewer_is_not_buyer", "reviews", "error", "a review by someone who did not buy the "
          "order: only buyers review", reviewer_is_not_buyer, ("orders",)),
    _rule("shipment_of_cancelled_order", "shipments", "error", "a shipment of an order whose every "
          "line the store cancelled before shipping", shipment_of_cancelled_order, ("orders",)),
    _rule("shipped_before_paid", "shipments", "error", "handed to the carrier before its order was "
          "paid (beyond the clock tolerance): the logistics score counts it shipped on time, "
          "whenever it really shipped",
          shipped_before_paid, ("orders",)),
    _rule("delivered_before_shipped", "shipments", "error", "delivered before it was handed to the "
          "carrier: one of the two times is wrong, and the store's punctuality with it",
          delivered_before_shipped, ()),
    *(_rule("before_order", t, "error", "dated before its order was paid (beyond the clock "
            "tolerance): it cannot be about that order", before_order, ("orders",), t)
      for t in ("returns", "reviews", "service_tickets")),
    _rule("before_delivery", "returns", "warning", "a return dated before its parcel was delivered: "
          "what is refunded before delivery is a cancellation, and the product score's return rates "
          "would count it as a return of goods the shopper had (a few are a late delivery scan)",
          before_delivery, ("orders", "shipments"), "returns", escalates=True),
    _rule("before_delivery", "reviews", "warning", "a review dated before its parcel was delivered: "
          "a shopper rates what they received, and the store experience score reads reviews against "
          "delivery (a few are a shopper confirming receipt before the carrier's scan)",
          before_delivery, ("orders", "shipments"), "reviews", escalates=True),
)
