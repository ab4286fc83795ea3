"""Bringing the service's event log into a dataset folder, so the next training run reads it.

``merge_events(data_dir, events_dir, out_dir)`` writes a new dataset folder: every table of
``data_dir``, with the logged impressions, clicks, carts and orders appended to their
tables (exact duplicate rows dropped, so merging twice changes nothing, and rows repeating a
table's unique key, such as an impression posted again on a retry, keep their first copy). The result is
validated against the contracts like any dataset; ``data_dir`` is never modified.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ranking.contracts import TABLES, dataset_tables, read_table, table_path, write_table
from ranking.event_log import LOGGED_TABLES, read_event_log


@dataclass
class MergeSummary:
    appended: dict[str, int]
    duplicates: dict[str, int]
    partial_lines: int


def merge_events(data_dir: str | Path, events_dir: str | Path, out_dir: str | Path) -> MergeSummary:
    data_dir, events_dir, out_dir = Path(data_dir), Path(events_dir), Path(out_dir)
    if out_dir.resolve() == data_dir.resolve():
        raise ValueError("write the merged dataset to a new folder (the source stays as it was)")
    if not dataset_tables(data_dir):
        raise ValueError(f"{data_dir}: not a dataset folder (no <table>.parquet of the contracts)")
    if not events_dir.is_dir():
        raise ValueError(f"{events_dir}: no event log folder here")
    if not any(any((events_dir / table).glob("*.jsonl")) for table in (*LOGGED_TABLES, "exposures")):
        raise ValueError(f"{events_dir}: no event log in this folder (no <table>/*.jsonl of "
                         f"{', '.join(LOGGED_TABLES)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in data_dir.iterdir():
        if path.name.endswith(".parquet") and path.stem not in LOGGED_TABLES:
            shutil.copy2(path, out_dir / path.name)
        elif path.is_dir() and path.name == "truth":
            shutil.copytree(path, out_dir / "truth", dirs_exist_ok=True)
    logged = read_event_log(events_dir)
    appended, duplicates = {}, {}
    for table in LOGGED_TABLES:
        base = read_table(data_dir, table) if table_path(data_dir, table).exists() else None
        extra = logged.tables[table]
        merged = pa.concat_tables([base, extra]) if base is not None else extra
        frame = merged.to_pandas()
        before = len(frame)
        frame = frame.drop_duplicates(ignore_index=True)
        unique = list(TABLES[table].unique)
        if unique:  # a retried post (same slot of the same page, a later timestamp): keep the first
            frame = frame.drop_duplicates(subset=unique, keep="first", ignore_index=True)
        duplicates[table] = before - len(frame)
        appended[table] = len(frame) - (base.num_rows if base is not None else 0)
        write_table(out_dir, table, pa.Table.from_pandas(frame, schema=merged.schema,
                                                        preserve_index=False))
    return MergeSummary(appended, duplicates, logged.partial_lines)
