"""The mapping file of ``shelfrank import``: which source file fills which contract table, how.

A mapping is a TOML or JSON file with one entry per contract table under ``tables``
(docs/bring_your_own_mall.md has a worked example)::

    [tables.products]
    file = "listings.csv"                  # relative to the mapping file; .csv or .parquet
    columns = { product_id = "sku", store_id = "shop" }   # contract column = source column
    defaults = { banned = false }          # a column the source lacks, or its empty cells
    values = { tier = { KA = "big_brand" } }   # source value -> contract value, per column
    timestamps = { listed_at = "%Y-%m-%d %H:%M:%S" }   # strptime format, epoch_ms or epoch_s
    timezone = "Asia/Shanghai"             # of naive times (default: settings mall.timezone)
    query_text = "keyword"                 # impressions only: the searched text, hashed to query_id

A contract column the mapping does not name is read from the source column of the same
name. :func:`load_mapping` checks the file's shape and every name in it (a table or column
the contracts do not have, a key it does not know) and raises :class:`MappingError` naming
the mapping file and the key; the source files are read later, by
:mod:`training.data.mall_import`.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ranking.contracts.tables import TABLES

TABLE_KEYS = ("file", "format", "columns", "defaults", "values", "timestamps", "timezone", "query_text",
              "csv_delimiter")
FORMATS = ("csv", "parquet")
EPOCH_FORMATS = ("epoch_ms", "epoch_s")


class MappingError(ValueError):
    """The mapping file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class TableMapping:
    """How one contract table is read from one source file."""

    table: str
    file: Path
    format: str
    columns: dict[str, str] = field(default_factory=dict)  # contract column -> source column
    defaults: dict[str, object] = field(default_factory=dict)
    values: dict[str, dict[str, object]] = field(default_factory=dict)
    timestamps: dict[str, str] = field(default_factory=dict)
    timezone: str | None = None
    query_text: str | None = None
    csv_delimiter: str = ","

    def source_column(self, column: str) -> str:
        """The source column that fills contract ``column`` (its own name unless mapped)."""
        return self.columns.get(column, column)


@dataclass(frozen=True)
class ImportMapping:
    """Every table a mapping file fills, in contract order."""

    path: Path
    tables: dict[str, TableMapping]


def load_mapping(path: str | Path) -> ImportMapping:
    """Read and check a mapping file (TOML by default, JSON for ``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise MappingError(f"{path}: no mapping file here")
    raw = _parse(path)
    tables = raw.get("tables") if isinstance(raw, dict) else None
    if not isinstance(tables, dict) or not tables:
        raise MappingError(f"{path}: needs a 'tables' section with one entry per contract table "
                           f"({', '.join(TABLES)})")
    unknown = sorted(set(tables) - set(TABLES))
    if unknown:
        raise MappingError(f"{path}: tables.{unknown[0]} is no contract table; known: {', '.join(TABLES)}")
    parsed = {name: _table(path, name, tables[name]) for name in TABLES if name in tables}
    return ImportMapping(path, parsed)


def _parse(path: Path) -> object:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: "
                           f"{exc}") from exc


def _table(path: Path, name: str, raw: object) -> TableMapping:
    where = f"{path}: tables.{name}"
    if not isinstance(raw, dict):
        raise MappingError(f"{where} must be a table of keys ({', '.join(TABLE_KEYS)})")
    unknown = sorted(set(raw) - set(TABLE_KEYS))
    if unknown:
        raise MappingError(f"{where}.{unknown[0]} is not a mapping key; known: {', '.join(TABLE_KEYS)}")
    if not isinstance(raw.get("file"), str) or not raw["file"]:
        raise MappingError(f"{where}.file is missing: the source file (.csv or .parquet) of this table")
    source = (path.parent / raw["file"]).resolve()
    fmt = raw.get("format") or source.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise MappingError(f"{where}.format: {fmt!r} is not one of {', '.join(FORMATS)} (set it when the "
                           "file's suffix does not say)")
    contract = {c.name for c in TABLES[name].columns}
    sections = {key: _mapping_of(where, key, raw.get(key, {}), contract)
                for key in ("columns", "defaults", "values", "timestamps")}
    for column, source_col in sections["columns"].items():
        if not isinstance(source_col, str) or not source_col:
            raise MappingError(f"{where}.columns.{column} must name a source column")
    for column, fmt_ in sections["timestamps"].items():
        if not isinstance(fmt_, str) or not (fmt_ in EPOCH_FORMATS or "%" in fmt_):
            raise MappingError(f"{where}.timestamps.{column}: {fmt_!r} is neither a strptime format "
                               f"(e.g. '%Y-%m-%d %H:%M:%S') nor one of {', '.join(EPOCH_FORMATS)}")
    for column, table in sections["values"].items():
        if not isinstance(table, dict):
            raise MappingError(f"{where}.values.{column} must map source values to contract values")
    timezone = raw.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise MappingError(f"{where}.timezone: {timezone!r} is no IANA time zone") from exc
    query_text = raw.get("query_text")
    if query_text is not None and (name != "impressions" or not isinstance(query_text, str)):
        raise MappingError(f"{where}.query_text: only impressions take it, as the source column "
                           "holding the searched text")
    return TableMapping(name, source, fmt, sections["columns"], sections["defaults"],
                        {k: {str(s): t for s, t in v.items()} for k, v in sections["values"].items()},
                        sections["timestamps"], timezone, query_text, str(raw.get("csv_delimiter", ",")))


def _mapping_of(where: str, key: str, raw: object, contract: set[str]) -> dict:
    if not isinstance(raw, dict):
        raise MappingError(f"{where}.{key} must map contract columns to values")
    unknown = sorted(set(raw) - contract)
    if unknown:
        raise MappingError(f"{where}.{key}.{unknown[0]} is no column of the contract; it has "
                           f"{', '.join(sorted(contract))}")
    return dict(raw)
