"""Renders ``docs/data.md`` from the contracts, so the doc can never drift from the code.

``python -m ranking.contracts.docs > docs/data.md``; a test checks the file is current.
"""

from __future__ import annotations

from ranking.catalog_changes import PRODUCT_CHANGES_HISTORY, PRODUCT_ORIGINALS
from ranking.contracts.consistency import RULES
from ranking.contracts.tables import (
    CATALOG_TABLES,
    CREATOR_TABLES,
    EVENT_TABLES,
    PEOPLE_TABLES,
    TableContract,
)
from ranking.settings import ConsistencySettings

INTRO = """# Data contracts

Every table Shelfrank reads or writes, generated from `ranking/contracts/tables.py`
(`python -m ranking.contracts.docs > docs/data.md`; a test fails when this file is stale).

A dataset is a folder with one `<table>.parquet` per table. `read_table(folder, name)`
validates on load: a missing column, a type that cannot be safely widened, a null where
none may be, a value outside its allowed set or range, two rows sharing a table's unique
columns — each is a `ContractError` naming the file and the column. `shelfrank validate
FOLDER` runs every check plus the foreign keys listed under each table, then the
[consistency rules across tables](#consistency-across-tables), and exits 1 on any error
(consistency warnings are printed and do not fail it).

Conventions: timestamps are UTC instants (`timestamp[ms, tz=UTC]`), the mall's local
clock (Asia/Shanghai by default) gives hours of day; money is yuan; positions are
1-based; `query_id` is a stable 53-bit hash of the normalised query text
(`ranking.text.query_id`), exact even through float64.

A real mall's own exports (CSV or Parquet, its own column names) come in through
`shelfrank import` and a mapping file: [Bring your own mall](bring_your_own_mall.md) says
which tables and columns are required, what is lost without the optional ones, and what to
put in `propensity` and `variant` when pages were never randomised.
"""


def render_table(t: TableContract) -> str:
    optional = " Optional: a dataset without this file has none." if t.optional else ""
    lines = [f"### `{t.name}`", "", f"One row: {t.row}.{optional}", "", "| column | type | meaning |",
             "|---|---|---|"]
    for c in t.columns:
        extra = []
        if c.nullable:
            extra.append("nullable")
        if c.allowed:
            extra.append("one of " + ", ".join(f"`{a}`" for a in c.allowed if a) +
                         (" or empty" if "" in c.allowed else ""))
        if c.min is not None:
            extra.append(f">= {c.min:g}")
        if c.max is not None:
            extra.append(f"<= {c.max:g}")
        if c.default is not None:
            extra.append(f"optional: `{c.default}` when the file lacks it")
        note = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"| `{c.name}` | `{c.type}` | {c.meaning}{note} |")
    if t.unique:
        lines += ["", "Unique: no two rows share " + ", ".join(f"`{c}`" for c in t.unique) + "."]
    if t.references:
        refs = ", ".join(f"`{k}` -> `{v}`" for k, v in t.references.items())
        lines += ["", f"Foreign keys: {refs}."]
    return "\n".join(lines)


CONSISTENCY = """## Consistency across tables

Every table can meet its contract while the tables contradict each other: a click on a
card no impression shows (the label join on `request_id, product_id` drops it without a
word), an order line credited to a store that does not sell the product (the store
experience score credits the wrong store), a parcel delivered before it shipped. After
the contracts, `shelfrank validate` runs the rules below (`ranking/contracts/consistency.py`,
one small vectorised function per rule); `--no-consistency` (settings
`consistency.enabled`) skips them, and a progress bar appears once validating has taken
`consistency.progress_after_seconds`. `shelfrank merge-events` runs the rules of the
tables it appends to on the merged rows only, and prints how many break each.

Severity: an **error** is a contradiction no correct log holds, and fails validate. A
**warning** is what real logs legitimately hold a little of (exposure logging loses its
last unflushed half second when a worker dies; a shopper may buy another item than the
cards of the page the order is attributed to): it is printed with its count and share,
and becomes an error above `consistency.max_unmatched_share` ({share:g}) of its table
(and at least `consistency.min_unmatched_rows`, {min_rows}, rows, so a small merge that lost
one click stays a warning), where logging was off or broken rather than a flush lost.
Rules that compare times allow `consistency.clock_tolerance_seconds` ({tolerance:g} s) of
clock difference. A rule judges only rows whose references resolve (an unknown id is the
foreign-key check's problem).
The simulated malls (small, default and large) break none of them.

| rule | tables | severity | why |
|---|---|---|---|
"""


EVENT_LOG = """## The service's event log

`POST /v1/events` appends each accepted batch to `<serving.events_dir>/<table>/<writer>.jsonl`
(one file per table and worker process, one JSON object per line in the table's contract
shape, timestamps as UTC epoch milliseconds, fsync'd before the 200; `ranking/event_log.py`).
Every event line also carries two keys no contract names, so training never reads them:

| key | type | meaning |
|---|---|---|
| `_client` | string or null | who posted the batch (its authenticated identity; null for now) |
| `_received_ms` | int | when the service accepted the batch (its clock, UTC epoch ms) |

`shelfrank merge-events` reads them to warn of traffic that looks fabricated
(`ranking/contracts/suspicious.py`): a client that sent more than
`consistency.burst_events_per_second` ({burst:,}) events within one second (clients without an
identity count as one), and a product for which at least `consistency.funnel_min_users`
({users}) distinct shoppers each went impression -> click -> cart -> order of one card within
`consistency.funnel_seconds` ({seconds:g} s). Lines written before these keys existed have none
and are never flagged.

The reader (`ranking/event_reader.py`) says per file how many lines it read and how many
were bad; a bad line (not a JSON object, a value of the wrong type, missing, or outside
the contract) is named `file:line` with the error, and stops `merge-events` (exit 2,
nothing written) unless `--skip-bad`, which lists every line it leaves out. A last line
without its newline is a torn tail (a file being written, or a crash): never acknowledged,
reported per file and not read; the writer cuts it off into `<writer>.jsonl.torn` when it
next opens the file.
"""


CATALOG_HISTORY = """## The catalog history (merge-events)

`shelfrank merge-events` folds the service's catalog change log (docs/catalog.md) into the merged
dataset: `products` and `stores` hold the state after the last change, and two more tables keep
what came before, so training gives each request its products' prices, stock, subsidy and bans
as they were at its time (`training/learning/catalog_timeline.py`: the last change at or before
the request, else the original values). A dataset without them trains on `products` as it is.
"""


def render_catalog_history() -> str:
    tables = (PRODUCT_CHANGES_HISTORY, PRODUCT_ORIGINALS)
    return CATALOG_HISTORY + "\n" + "\n".join(render_table(t) + "\n" for t in tables)


def render_event_log() -> str:
    defaults = ConsistencySettings()
    return EVENT_LOG.format(burst=defaults.burst_events_per_second, users=defaults.funnel_min_users,
                            seconds=defaults.funnel_seconds)


def render_rules() -> str:
    """One line per rule (the tables it applies to when it means the same in each)."""
    defaults = ConsistencySettings()
    lines: dict[tuple[str, str, str], list[str]] = {}
    for rule in RULES:
        severity = "warning; error above the share" if rule.escalates else rule.severity
        lines.setdefault((rule.name, severity, rule.why), []).append(rule.table)
    rows = [f"| `{name}` | {', '.join(f'`{t}`' for t in tables)} | {severity} | {why} |"
            for (name, severity, why), tables in lines.items()]
    intro = CONSISTENCY.format(share=defaults.max_unmatched_share, min_rows=defaults.min_unmatched_rows,
                               tolerance=defaults.clock_tolerance_seconds)
    return intro + "\n".join(rows) + "\n"


def render() -> str:
    parts = [INTRO]
    for title, tables in (("Catalog", CATALOG_TABLES), ("People", PEOPLE_TABLES),
                          ("Events", EVENT_TABLES), ("Creators (optional)", CREATOR_TABLES)):
        parts.append(f"## {title}\n")
        parts.extend(render_table(t) + "\n" for t in tables)
    parts.append(render_rules())
    parts.append(render_catalog_history())
    parts.append(render_event_log())
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
