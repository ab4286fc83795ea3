"""Streams simulated rows into contract tables (Parquet), one chunk at a time.

Arrays come in as numpy (timestamps as UTC epoch ms, -1 for a missing value where the
contract allows nulls) and leave as validated Arrow tables; files appear under their
final name only when complete.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ranking.contracts.io import conform, table_path
from ranking.contracts.tables import TABLES


def to_arrow(name: str, columns: dict[str, np.ndarray | list]) -> pa.Table:
    """Build a contract table from numpy columns (ms timestamps, -1 = null if nullable)."""
    contract = TABLES[name]
    arrays, names = [], []
    for col in contract.columns:
        if col.name not in columns and col.default is not None:
            continue  # an optional column not simulated: conform fills its default
        names.append(col.name)
        values = columns[col.name]
        if isinstance(values, list):
            arrays.append(pa.array(values, type=col.type))
            continue
        mask = None
        if col.nullable and values.dtype.kind in "iu":
            mask = values < 0
        if pa.types.is_timestamp(col.type):
            arr = pa.array(values.astype(np.int64), mask=mask, type=pa.int64()).cast(col.type)
        elif pa.types.is_string(col.type):
            arr = pa.array(values.astype(str), type=pa.string())
        else:
            arr = pa.array(values, mask=mask).cast(col.type)
        arrays.append(arr)
    return conform(pa.Table.from_arrays(arrays, names=names), contract, f"simulated {name}")


class TableWriter:
    """Appends chunks to one table's Parquet file; ``close`` moves it into place."""

    def __init__(self, out_dir: Path, name: str) -> None:
        self.name = name
        self.path = table_path(out_dir, name)
        self.tmp = self.path.with_suffix(".parquet.tmp")
        self.writer = pq.ParquetWriter(self.tmp, TABLES[name].schema, compression="zstd")
        self.rows = 0

    def write(self, columns: dict[str, np.ndarray | list]) -> None:
        table = to_arrow(self.name, columns)
        if table.num_rows:
            self.writer.write_table(table, row_group_size=1_000_000)
        self.rows += table.num_rows

    def close(self) -> None:
        self.writer.close()
        self.tmp.replace(self.path)


def write_once(out_dir: Path, name: str, columns: dict[str, np.ndarray | list]) -> int:
    """Write a whole table in one go; return its row count."""
    w = TableWriter(out_dir, name)
    w.write(columns)
    w.close()
    return w.rows
