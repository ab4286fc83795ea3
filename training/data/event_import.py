"""Bringing the service's event log into a dataset folder, so the next training run reads it.

``merge_events(data_dir, events_dir, out_dir)`` writes a new dataset folder: every table of
``data_dir``, with the logged impressions, clicks, carts and orders appended to their
tables (a row repeating its table's unique key, such as an impression posted again on a
retry or a row merged before, is dropped for its first copy, so merging twice changes
nothing), and the text of every query the service searched (logged with its exposures, as typed and as
corrected) added to ``queries``, and the catalog change log folded in
(:mod:`training.data.catalog_import`: the products and stores as of the end of the log, and a
``product_changes`` history for point-in-time prices, stock and bans). A search impression's
``query_id`` is how training finds what was searched, and a query the dataset has no text for
would be featurised as an empty search. The result is validated against the contracts like any
dataset; ``data_dir`` is never modified.

The merged rows are then judged by the cross-table consistency rules
(:mod:`ranking.contracts.consistency`) against the whole merged dataset, so the operator
sees at merge time how many logged events are lost (a click whose impression never
reached the log: the label join drops it) or contradict the dataset (a click by another
shopper than its card's, an order line credited to a store that does not sell the
product); ``MergeSummary.breaks`` has a finding per broken rule, counting merged rows only.

The log is read file by file (:mod:`ranking.event_reader`): ``MergeSummary.files`` says what
each file held; a bad line stops the merge with an error naming every ``file:line`` (nothing
is written) unless ``skip_bad``, and then every skipped line is listed in
``MergeSummary.skipped``. The logged rows are also searched for traffic that looks
fabricated (:mod:`ranking.contracts.suspicious`: a burst from one client, a crowd completing
one product's whole funnel within seconds), returned as warnings in ``MergeSummary.suspicions``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ranking.catalog_changes import CATALOG_TABLES
from ranking.contracts import TABLES, dataset_tables, read_table, table_path, write_table
from ranking.contracts.consistency import COLUMNS, Finding, check_consistency
from ranking.contracts.io import first_copies
from ranking.contracts.suspicious import Suspicion, suspicious_traffic
from ranking.event_log import LOGGED_TABLES, read_event_log
from ranking.event_reader import BadLine, FileRead
from ranking.settings import ConsistencySettings
from training.data.catalog_import import fold_catalog


@dataclass
class MergeSummary:
    appended: dict[str, int]
    duplicates: dict[str, int]
    partial_lines: int
    queries_without_text: int = 0  # distinct search query_ids of the impressions with no text
    breaks: list[Finding] = field(default_factory=list)  # consistency rules the merged rows break
    files: list[FileRead] = field(default_factory=list)  # what each log file held
    skipped: list[BadLine] = field(default_factory=list)  # bad lines left out (skip_bad only)
    suspicions: list[Suspicion] = field(default_factory=list)  # traffic that looks fabricated
    catalog: dict[str, int] = field(default_factory=dict)  # the catalog changes folded (catalog_import)


def merge_events(data_dir: str | Path, events_dir: str | Path, out_dir: str | Path,
                 consistency: ConsistencySettings | None = None, skip_bad: bool = False) -> MergeSummary:
    """Write ``out_dir``: ``data_dir`` plus the logged events of ``events_dir`` (see the module
    docstring); the merged rows are judged by the consistency rules unless
    ``consistency.enabled`` is off. A bad log line raises
    :class:`ranking.event_reader.BadEventLinesError` before anything is written, unless
    ``skip_bad``."""
    data_dir, events_dir, out_dir = Path(data_dir), Path(events_dir), Path(out_dir)
    if out_dir.resolve() == data_dir.resolve():
        raise ValueError("write the merged dataset to a new folder (the source stays as it was)")
    if not dataset_tables(data_dir):
        raise ValueError(f"{data_dir}: not a dataset folder (no <table>.parquet of the contracts)")
    if not events_dir.is_dir():
        raise ValueError(f"{events_dir}: no event log folder here")
    if not any(any((events_dir / table).glob("*.jsonl"))
               for table in (*LOGGED_TABLES, "exposures", *CATALOG_TABLES)):
        raise ValueError(f"{events_dir}: no event log in this folder (no <table>/*.jsonl of "
                         f"{', '.join((*LOGGED_TABLES, *CATALOG_TABLES))})")
    logged = read_event_log(events_dir, skip_bad=skip_bad)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {*LOGGED_TABLES, "queries"}
    for path in data_dir.iterdir():
        if path.name.endswith(".parquet") and path.stem not in written:
            shutil.copy2(path, out_dir / path.name)
        elif path.is_dir() and path.name == "truth":
            shutil.copytree(path, out_dir / "truth", dirs_exist_ok=True)
    extra = {table: logged.tables[table] for table in LOGGED_TABLES}
    extra["queries"] = _searched_queries(logged.tables["exposures"])
    appended, duplicates, merged, first_merged = {}, {}, {}, {}
    for table, rows in extra.items():
        base = read_table(data_dir, table) if table_path(data_dir, table).exists() else None
        both = pa.concat_tables([base, rows]) if base is not None else rows
        # every table here has a unique key: a row repeating it (a retried post, a query already
        # known) is dropped and the first copy, the dataset's own when it has one, kept
        merged[table] = first_copies(both, TABLES[table])
        duplicates[table] = both.num_rows - merged[table].num_rows
        first_merged[table] = base.num_rows if base is not None else 0  # first_copies keeps the base first
        appended[table] = merged[table].num_rows - first_merged[table]
        write_table(out_dir, table, merged[table])
    catalog = fold_catalog(events_dir, out_dir)  # before the consistency rules read the products
    searched = pc.unique(merged["impressions"].column("query_id")).drop_null()
    missing = int(pc.sum(pc.invert(pc.is_in(searched, merged["queries"].column("query_id")))).as_py() or 0)
    consistency = consistency or ConsistencySettings()
    breaks = merged_breaks(out_dir, merged, first_merged, consistency) if consistency.enabled else []
    suspicions = suspicious_traffic(extra, logged.origins, consistency)
    return MergeSummary(appended, duplicates, logged.partial_lines, missing, breaks, logged.files,
                        logged.skipped, suspicions, catalog)


def merged_breaks(out_dir: Path, merged: dict[str, pa.Table], first_merged: dict[str, int],
                  consistency: ConsistencySettings) -> list[Finding]:
    """The consistency rules of the logged tables that their merged rows break, judged
    against the whole merged dataset in ``out_dir``."""
    tables = {name: merged[name] if name in merged else read_table(out_dir, name, columns)
              for name, columns in COLUMNS.items()
              if name in merged or table_path(out_dir, name).exists()}
    return check_consistency(tables, consistency, since=first_merged, only=LOGGED_TABLES)


def _searched_queries(exposures: pa.Table) -> pa.Table:
    """The (query_id, text) of every search the exposures log, as corrected and as typed."""
    parts = []
    for id_col, text_col in (("query_id", "query"), ("typed_query_id", "typed_query")):
        has = pc.and_(pc.is_valid(exposures.column(id_col)), pc.is_valid(exposures.column(text_col)))
        parts.append(pa.table({"query_id": exposures.column(id_col).filter(has),
                               "text": exposures.column(text_col).filter(has)}))
    return pa.concat_tables(parts).cast(TABLES["queries"].schema)
