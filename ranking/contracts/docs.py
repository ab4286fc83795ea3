"""Renders ``docs/data.md`` from the contracts, so the doc can never drift from the code.

``python -m ranking.contracts.docs > docs/data.md``; a test checks the file is current.
"""

from __future__ import annotations

from ranking.contracts.tables import CATALOG_TABLES, EVENT_TABLES, PEOPLE_TABLES, TableContract

INTRO = """# Data contracts

Every table Shelfrank reads or writes, generated from `ranking/contracts/tables.py`
(`python -m ranking.contracts.docs > docs/data.md`; a test fails when this file is stale).

A dataset is a folder with one `<table>.parquet` per table. `read_table(folder, name)`
validates on load: a missing column, a type that cannot be safely widened, a null where
none may be, a value outside its allowed set or range, two rows sharing a table's unique
columns — each is a `ContractError` naming the file and the column. `shelfrank validate
FOLDER` runs every check plus the foreign keys listed under each table, and exits 1 on
any problem.

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


def render() -> str:
    parts = [INTRO]
    for title, tables in (("Catalog", CATALOG_TABLES), ("People", PEOPLE_TABLES),
                          ("Events", EVENT_TABLES)):
        parts.append(f"## {title}\n")
        parts.extend(render_table(t) + "\n" for t in tables)
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
