"""Contract tables as pandas frames with timestamps as UTC epoch milliseconds.

Training, scoring and evaluation do arithmetic on time (windows, as-of cuts, decay), so
every timestamp column becomes ``int64`` epoch ms with ``-1`` for null (e.g. an undelivered
shipment's ``delivered_at``). Every table is validated by :func:`read_table` on the way in.

Memory: the impressions table is ten times any other (100M rows on the large mall), so
string columns with few distinct values (``surface``, ``variant``) load as categoricals
(1 byte a row instead of an Arrow string), and Arrow buffers are released as pandas
takes them (``self_destruct``): loading the large mall peaks near the frame's own size
rather than twice it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ranking.contracts.io import read_table
from ranking.contracts.tables import TABLES
from ranking.mall_clock import to_epoch_ms

NULL_MS = -1
CATEGORICAL_MIN_ROWS = 100_000  # smaller tables gain nothing worth a dtype change
CATEGORICAL_MAX_VALUES = 1_000


def _dictionary_encode_low_cardinality(table: pa.Table) -> pa.Table:
    if table.num_rows < CATEGORICAL_MIN_ROWS:
        return table
    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        encoded = pc.dictionary_encode(table.column(i))
        sizes = [len(chunk.dictionary) for chunk in encoded.chunks]
        if max(sizes, default=0) <= CATEGORICAL_MAX_VALUES:
            table = table.set_column(i, field.name, encoded)
    return table


def _is_time_column(name: str) -> bool:
    return name == "timestamp" or name.endswith("_at")


def table_frame(table: pa.Table) -> pd.DataFrame:
    """A validated Arrow table as pandas: low-cardinality strings categorical, timestamps
    int64 epoch ms (``-1`` = null), Arrow buffers released as pandas takes them."""
    table = _dictionary_encode_low_cardinality(table)
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    for col in frame.columns:
        if _is_time_column(col):
            values = frame[col]
            mask = values.isna().to_numpy()
            ms = np.full(len(frame), NULL_MS, dtype=np.int64)
            if (~mask).any():
                ms[~mask] = to_epoch_ms(values[~mask])
            frame[col] = ms
    return frame


def load_frames(data_dir: str | Path, names: Iterable[str] | None = None,
                columns: dict[str, Iterable[str]] | None = None) -> dict[str, pd.DataFrame]:
    """Read and validate tables (all by default); timestamp columns become int64 epoch ms.

    ``columns`` maps a table name to the only columns to read from it.
    """
    data_dir = Path(data_dir)
    columns = columns or {}
    return {name: table_frame(read_table(data_dir, name, columns.get(name)))
            for name in names or TABLES}
