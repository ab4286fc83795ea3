"""Renders ``docs/data.md`` from the contracts, so the doc can never drift from the code.

``python -m ranking.contracts.docs > docs/data.md``; a test checks the file is current.
"""

from __future__ import annotations

from ranking.contracts.consistency import RULES
from ranking.contracts.tables import CATALOG_TABLES, EVENT_TABLES, PEOPLE_TABLES, TableContract
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
"""


def render_table(t: TableContract) -> str:
    lines = [f"### `{t.name}`", "", f"One row: {t.row}.", "", "| column | type | meaning |",
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
                          ("Events", EVENT_TABLES)):
        parts.append(f"## {title}\n")
        parts.extend(render_table(t) + "\n" for t in tables)
    parts.append(render_rules())
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
