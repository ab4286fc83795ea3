"""Bringing the service's event log into a dataset folder, so the next training run reads it.

``merge_events(data_dir, events_dir, out_dir)`` writes a new dataset folder: every table of
``data_dir``, with the logged impressions, clicks, carts and orders appended to their
tables (exact duplicate rows dropped, so merging twice changes nothing, and rows repeating a
table's unique key, such as an impression posted again on a retry, keep their first copy),
and the text of every query the service searched (logged with its exposures, as typed and as
corrected) added to ``queries``: a search impression's ``query_id`` is how training finds
what was searched, and a query the dataset has no text for would be featurised as an empty
search. The result is validated against the contracts like any dataset; ``data_dir`` is
never modified.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ranking.contracts import TABLES, dataset_tables, read_table, table_path, write_table
from ranking.event_log import LOGGED_TABLES, read_event_log


@dataclass
class MergeSummary:
    appended: dict[str, int]
    duplicates: dict[str, int]
    partial_lines: int
    queries_without_text: int = 0  # distinct search query_ids of the impressions with no text


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
    queries = read_table(data_dir, "queries") if table_path(data_dir, "queries").exists() else None
    queries, appended["queries"] = _with_searched_queries(queries, logged.tables["exposures"])
    duplicates["queries"] = 0
    write_table(out_dir, "queries", queries)
    searched = read_table(out_dir, "impressions", columns=["query_id"]).column("query_id")
    searched = pc.unique(searched).drop_null()
    missing = int(len(searched) - pc.sum(pc.is_in(searched, queries.column("query_id"))).as_py()) \
        if len(searched) else 0
    return MergeSummary(appended, duplicates, logged.partial_lines, missing)


def _with_searched_queries(queries: pa.Table | None, exposures: pa.Table) -> tuple[pa.Table, int]:
    """``queries`` plus the (id, text) pairs of the exposures' searches whose id it lacks
    (the corrected query and the query as typed; the first text logged for an id wins, as
    both come from the same normalised text). Returns the table and how many rows it gained."""
    ids, texts = [], []
    for id_col, text_col in (("query_id", "query"), ("typed_query_id", "typed_query")):
        has = pc.and_(pc.is_valid(exposures.column(id_col)), pc.is_valid(exposures.column(text_col)))
        ids.append(exposures.column(id_col).filter(has).to_numpy())
        texts.append(exposures.column(text_col).filter(has).to_numpy(zero_copy_only=False))
    ids_all, texts_all = np.concatenate(ids).astype(np.int64), np.concatenate(texts)
    contract = TABLES["queries"]
    known = queries.column("query_id").to_numpy() if queries is not None else np.zeros(0, np.int64)
    _, first = np.unique(ids_all, return_index=True)
    first = np.sort(first)
    first = first[~np.isin(ids_all[first], known)]
    extra = pa.table({"query_id": pa.array(ids_all[first], pa.int64()),
                      "text": pa.array(texts_all[first].tolist(), pa.string())}).cast(contract.schema)
    merged = pa.concat_tables([queries.cast(contract.schema), extra]) if queries is not None else extra
    return merged, len(first)
