"""``shelfrank import``: a real mall's CSV or Parquet exports, through a mapping, into a dataset.

``import_mall(mapping, out_dir)`` reads each source file the mapping names
(:mod:`training.data.import_mapping`), renames its columns to the contract's, fills the
defaults, maps values, parses every column for its contract type
(:mod:`training.data.column_conversion`) and writes ``out_dir/<table>.parquet``, which
``shelfrank validate`` then judges like any dataset. Nothing is written unless every source
converts: a bad cell is a :class:`SourceDataError` naming the file, the row (the CSV line)
and the column, with the first few bad rows of each column and how many there are.

The tables training cannot do without (:data:`REQUIRED_TABLES`) must be mapped; every other
table the mapping leaves out is written empty, and :data:`LOST_WITHOUT` says what the mall
loses without it (the importer reports it; docs/bring_your_own_mall.md lists it). With
``query_text`` on the impressions, the searched text is hashed to ``query_id``
(:func:`ranking.text.query_id`, as the service does) and every distinct text is added to
``queries``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from ranking.contracts import TABLES, write_table
from ranking.contracts.io import duplicate_rows, first_copies
from ranking.text import query_id
from training.data.column_conversion import BadCell, convert_column, empty_cells
from training.data.import_mapping import ImportMapping, MappingError, TableMapping, load_mapping

REQUIRED_TABLES = ("categories", "brands", "stores", "products", "users", "impressions", "clicks", "orders")
LOST_WITHOUT = {  # docs/bring_your_own_mall.md says the same, table by table
    "reference_prices": "no outside-market price: the price advantage falls back to the other stores' "
                        "listings of the same comparable group, or the category's price-for-rating fit",
    "queries": "no query text: search pages are featurised as empty searches (map the impressions' "
               "query_text instead)",
    "carts": "no add-to-cart: the labels lose their cart grade and homepage recall the cart weight",
    "shipments": "no fulfilment: the store experience score's logistics dimension has no data (every "
                 "store scores 50)",
    "returns": "no returns: product and store quality rest on ratings alone, nothing is demoted for returns",
    "reviews": "no ratings: product and store quality rest on returns alone",
    "service_tickets": "no customer service: the store experience score's service dimension has no data "
                       "(every store scores 50)",
}
SHOWN_PER_COLUMN = 5
QUERY_ID_SOURCE = "__query_id_from_text"


class SourceDataError(ValueError):
    """A source file cannot fill its table; the message names the file, row and column."""


@dataclass
class ImportSummary:
    """What :func:`import_mall` wrote: rows per table, and the tables left empty with what that loses."""

    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    empty: dict[str, str] = field(default_factory=dict)
    queries_from_text: int = 0


def import_mall(mapping: ImportMapping | str | Path, out_dir: str | Path,
                timezone: str = "Asia/Shanghai") -> ImportSummary:
    """Convert every mapped source and write the dataset folder (see the module docstring)."""
    mapping = mapping if isinstance(mapping, ImportMapping) else load_mapping(mapping)
    out = Path(out_dir)
    missing = [t for t in REQUIRED_TABLES if t not in mapping.tables]
    if missing:
        raise MappingError(f"{mapping.path}: no tables.{missing[0]}: training needs "
                           f"{', '.join(missing)} (required: {', '.join(REQUIRED_TABLES)})")
    if out.exists() and any(out.glob("*.parquet")):
        raise MappingError(f"{out}: already holds a dataset; import into a new folder")
    tables: dict[str, pa.Table] = {}
    problems: list[str] = []
    searched: pa.Table | None = None
    for name, table_mapping in mapping.tables.items():
        frame = read_source(table_mapping)
        if table_mapping.query_text:
            frame, searched = _hash_query_text(frame, table_mapping)
        table, bad = convert_table(frame, table_mapping, table_mapping.timezone or timezone)
        problems += bad
        if table is not None:
            tables[name] = table
    if problems:
        raise SourceDataError("\n".join(problems))
    summary = ImportSummary(out)
    if searched is not None:
        known = tables.get("queries")
        both = pa.concat_tables([known, searched]) if known is not None else searched
        tables["queries"] = first_copies(both, TABLES["queries"])
        summary.queries_from_text = searched.num_rows
    for name, contract in TABLES.items():
        if name not in tables:
            tables[name] = contract.schema.empty_table()
            summary.empty[name] = LOST_WITHOUT.get(name, "")
        write_table(out, name, tables[name])
        summary.rows[name] = tables[name].num_rows
    return summary


def read_source(mapping: TableMapping) -> pd.DataFrame:
    """The source file as a frame: a CSV's cells as text (parsed per column later), Parquet as typed."""
    if not mapping.file.is_file():
        raise SourceDataError(f"{mapping.file}: no such file (tables.{mapping.table}.file)")
    try:
        if mapping.format == "csv":
            return pd.read_csv(mapping.file, dtype=str, keep_default_na=False, sep=mapping.csv_delimiter,
                               encoding="utf-8")
        return pd.read_parquet(mapping.file)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SourceDataError(f"{mapping.file}: cannot be read as {mapping.format}: {exc}") from exc


def convert_table(frame: pd.DataFrame, mapping: TableMapping,
                  timezone: str) -> tuple[pa.Table | None, list[str]]:
    """The contract table from a source frame, or None and a message per problem."""
    contract = TABLES[mapping.table]
    arrays, problems = [], []
    for column in contract.columns:
        where = f"{mapping.file.name}, column {mapping.source_column(column.name)!r} " \
                f"(contract {mapping.table}.{column.name})"
        values = _source_values(frame, mapping, column.name)
        if values is None:
            if not column.nullable:
                problems.append(f"{where}: no such column in the source, and no default; map it under "
                                f"tables.{mapping.table}.columns or give tables.{mapping.table}.defaults")
                continue
            values = pd.Series([None] * len(frame), dtype=object)
        array, bad = convert_column(values, column, mapping.timestamps.get(column.name), timezone)
        if bad:
            problems.append(_describe(where, bad, mapping.format))
        arrays.append(array)
    if problems:
        return None, problems
    table = pa.Table.from_arrays(arrays, schema=contract.schema)
    repeated = duplicate_rows(table, contract, mapping.file.name)
    return (None, [repeated]) if repeated else (table, [])


def _source_values(frame: pd.DataFrame, mapping: TableMapping, column: str) -> pd.Series | None:
    source = QUERY_ID_SOURCE if column == "query_id" and mapping.query_text else mapping.source_column(column)
    default = mapping.defaults.get(column)
    if source not in frame:
        return None if default is None else pd.Series([default] * len(frame), dtype=object)
    values = frame[source]
    if column in mapping.values:
        table = mapping.values[column]
        values = values.map(lambda v: table.get(str(v), v))
    if default is not None:
        values = values.astype(object).where(~empty_cells(values), default)
    return values


def _hash_query_text(frame: pd.DataFrame, mapping: TableMapping) -> tuple[pd.DataFrame, pa.Table]:
    if mapping.query_text not in frame:
        raise SourceDataError(f"{mapping.file.name}: no column {mapping.query_text!r} "
                              f"(tables.{mapping.table}.query_text)")
    text = frame[mapping.query_text]
    searched = ~empty_cells(text)
    ids = pd.Series([None] * len(frame), dtype=object)
    typed = text[searched].astype(str)
    ids[searched] = typed.map({t: query_id(t) for t in typed.unique()})  # hash each text once
    frame = frame.assign(**{QUERY_ID_SOURCE: ids})
    queries = pa.table({"query_id": pa.array(ids[searched].to_numpy(dtype="int64")),
                        "text": pa.array(typed.tolist(), pa.string())})
    return frame, first_copies(queries, TABLES["queries"])


def _describe(where: str, bad: list[BadCell], fmt: str) -> str:
    def row(cell: BadCell) -> str:  # a CSV's header is line 1, its first row line 2
        return f"line {cell.row + 2}" if fmt == "csv" else f"row {cell.row + 1}"

    shown = "; ".join(f"{row(c)}: {c.value!r} {c.reason}" for c in bad[:SHOWN_PER_COLUMN])
    more = f" (and {len(bad) - SHOWN_PER_COLUMN} more rows)" if len(bad) > SHOWN_PER_COLUMN else ""
    return f"{where}: {shown}{more}"
