"""Reading and writing contract tables as Parquet, with validation on every load.

A dataset is a folder holding one ``<table>.parquet`` per contract table. Loading checks
that every declared column is present with its declared type (safe widening such as
int32 -> int64 is accepted and cast), that non-nullable columns hold no nulls, that
enumerated and bounded columns hold allowed values, and that no two rows share a table's
``unique`` columns (e.g. two impressions in one slot of one page: a log written twice
would double every card's impressions and break the randomisation's propensities). Any
problem raises :class:`ContractError` naming the file and the column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ranking.contracts.consistency import COLUMNS as CONSISTENCY_COLUMNS
from ranking.contracts.consistency import RULES, Finding, Rule, check_consistency
from ranking.contracts.tables import TABLES, TableContract
from ranking.settings import ConsistencySettings


class ContractError(ValueError):
    """A table does not meet its contract; the message names the file and the column."""


def table_path(data_dir: str | Path, name: str) -> Path:
    """Where table ``name`` lives inside a dataset folder."""
    return Path(data_dir) / f"{name}.parquet"


def _contract(table: str | TableContract) -> TableContract:
    if isinstance(table, TableContract):
        return table
    try:
        return TABLES[table]
    except KeyError:
        raise ContractError(f"unknown table {table!r}; known: {', '.join(TABLES)}") from None


def conform(table: pa.Table, contract: TableContract, source: str) -> pa.Table:
    """Check ``table`` against ``contract`` and return it with exactly the contract's columns.

    ``source`` names the file (or request) in error messages.
    """
    table = with_defaults(table, contract)
    problems = check_table(table, contract, source)
    if problems:
        raise ContractError("; ".join(problems))
    columns = []
    for col in contract.columns:
        arr = table.column(col.name)
        if not arr.type.equals(col.type):
            arr = arr.cast(col.type, safe=True)
        columns.append(arr)
    return pa.Table.from_arrays(columns, schema=contract.schema)


def with_defaults(table: pa.Table, contract: TableContract) -> pa.Table:
    """``table`` with every optional column it lacks (a column with a ``default``) added,
    each row holding the default."""
    for col in contract.columns:
        if col.default is not None and col.name not in table.column_names:
            table = table.append_column(pa.field(col.name, col.type, nullable=col.nullable),
                                        pa.array([col.default] * table.num_rows, type=col.type))
    return table


def empty_table(contract: TableContract) -> pa.Table:
    """A table of ``contract`` with no rows (an optional table a dataset does not have)."""
    return contract.schema.empty_table()


def _castable(actual: pa.DataType, wanted: pa.DataType) -> bool:
    if actual.equals(wanted):
        return True
    if pa.types.is_integer(wanted) and pa.types.is_integer(actual):
        return np.iinfo(actual.to_pandas_dtype()).max <= np.iinfo(wanted.to_pandas_dtype()).max
    if pa.types.is_floating(wanted) and (pa.types.is_integer(actual) or pa.types.is_floating(actual)):
        return True
    if pa.types.is_timestamp(wanted) and pa.types.is_timestamp(actual):
        return actual.tz is not None
    return pa.types.is_string(wanted) and (
        pa.types.is_large_string(actual) or pa.types.is_dictionary(actual)
    )


def check_table(table: pa.Table, contract: TableContract, source: str) -> list[str]:
    """Every way ``table`` breaks ``contract``, as messages naming ``source`` and the column."""
    problems: list[str] = []
    names = set(table.column_names)
    for col in contract.columns:
        where = f"{source}: column {col.name!r}"
        if col.name not in names:
            problems.append(f"{where} is missing (expected {col.type}: {col.meaning})")
            continue
        arr = table.column(col.name)
        if not _castable(arr.type, col.type):
            problems.append(f"{where} has type {arr.type}, expected {col.type}")
            continue
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(col.type)
        if not col.nullable and arr.null_count:
            problems.append(f"{where} has {arr.null_count} null value(s) but may not be null")
        if col.allowed is not None and len(arr):
            bad = pc.unique(arr.filter(pc.invert(pc.is_in(arr, pa.array(col.allowed))))).drop_null()
            if len(bad):
                shown = ", ".join(repr(v) for v in bad.to_pylist()[:5])
                problems.append(f"{where} holds {shown}; allowed: {', '.join(col.allowed)}")
        if (col.min is not None or col.max is not None) and len(arr) and arr.null_count < len(arr):
            lo, hi = pc.min_max(arr).values()
            lo, hi = lo.as_py(), hi.as_py()
            if pa.types.is_floating(arr.type) and pc.any(pc.is_nan(arr)).as_py():
                problems.append(f"{where} holds NaN")
            if col.min is not None and lo is not None and lo < col.min:
                problems.append(f"{where} holds {lo}, below its minimum {col.min}")
            if col.max is not None and hi is not None and hi > col.max:
                problems.append(f"{where} holds {hi}, above its maximum {col.max}")
    return problems


def _existing_path(data_dir: str | Path, contract: TableContract) -> Path:
    path = table_path(data_dir, contract.name)
    if not path.exists():
        raise ContractError(f"{path}: table {contract.name!r} is missing from {data_dir}")
    return path


def read_table(
    data_dir: str | Path,
    table: str | TableContract,
    columns: Iterable[str] | None = None,
) -> pa.Table:
    """Load and validate one table of a dataset folder.

    ``columns`` restricts the read to those contract columns (faster on big event tables);
    the table's unique key is still checked when ``columns`` holds all of it (what is read
    can then count a repeated row twice). Raises :class:`ContractError` when the file is
    missing, unreadable or breaks its contract.
    """
    contract = _contract(table)
    if contract.optional and not table_path(data_dir, contract.name).exists():
        empty = empty_table(contract)
        return empty if columns is None else empty.select(list(columns))
    path = _existing_path(data_dir, contract)
    wanted = None
    if columns is not None:
        wanted = list(columns)
        for name in wanted:
            contract.column(name)
        contract = TableContract(
            contract.name,
            contract.row,
            tuple(contract.column(n) for n in wanted),
            contract.group,
            unique=contract.unique if set(contract.unique) <= set(wanted) else (),
        )
    try:
        if wanted is not None:  # an optional column the file lacks is filled by conform, not read
            present = set(pq.read_schema(path).names)
            wanted = [n for n in wanted if n in present or contract.column(n).default is None]
        loaded = pq.read_table(path, columns=wanted)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise ContractError(f"{path}: not a readable Parquet file ({exc})") from exc
    except (KeyError, ValueError) as exc:  # a requested column absent from the file
        raise ContractError(f"{path}: {exc}") from exc
    conformed = conform(loaded, contract, str(path))
    problem = duplicate_rows(conformed, contract, str(path))
    if problem:
        raise ContractError(problem)
    return conformed


def read_checked_columns(data_dir: str | Path, table: str | TableContract,
                         keep: Iterable[str]) -> pa.Table:
    """The ``keep`` columns of a table checked whole against its contract, as :func:`read_table`
    checks it, but a Parquet row group at a time: the columns nobody keeps (the impressions'
    strings and floats) are never all in memory at once. A problem in a file of several row
    groups names the first group that has it."""
    contract = _contract(table)
    keep = set(keep)  # read three times below: an iterator would be empty after the first
    if contract.optional and not table_path(data_dir, contract.name).exists():
        return empty_table(contract).select([c.name for c in contract.columns if c.name in keep])
    path = _existing_path(data_dir, contract)
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise ContractError(f"{path}: not a readable Parquet file ({exc})") from exc
    groups = parquet.metadata.num_row_groups
    if groups < 2:
        full = read_table(data_dir, contract)
        return full.select([c.name for c in contract.columns if c.name in keep])
    wanted = [c.name for c in contract.columns if c.name in {*keep, *contract.unique}]
    parts = []
    for group in range(groups):
        try:
            rows = parquet.read_row_group(group)
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise ContractError(f"{path}: not a readable Parquet file ({exc})") from exc
        parts.append(conform(rows, contract, f"{path} (row group {group})").select(wanted))
        del rows
    checked = pa.concat_tables(parts)
    del parts
    problem = duplicate_rows(checked, contract, str(path))
    if problem:
        raise ContractError(problem)
    return checked.select([c for c in wanted if c in keep])


def duplicate_rows(table: pa.Table, contract: TableContract, source: str) -> str | None:
    """A message when two rows share all of ``contract.unique`` (None if not, or if the
    table lacks one of those columns). O(rows) on a table already sorted by them."""
    if not contract.unique or not set(contract.unique) <= set(table.column_names):
        return None
    keys = [table.column(c).to_numpy() for c in contract.unique]
    repeats = repeated_rows(keys)
    if len(repeats) == 0:
        return None
    example = ", ".join(f"{c} {int(k[repeats[0]])}" for c, k in zip(contract.unique, keys, strict=True))
    columns = ", ".join(contract.unique)
    return (f"{source}: {len(repeats):,} row(s) repeat the ({columns}) of another row (e.g. {example}); "
            f"no two rows of {contract.name} may share them: drop the duplicates")


def first_copies(table: pa.Table, contract: TableContract) -> pa.Table:
    """``table`` without the rows that repeat an earlier row's ``contract.unique`` key (the
    first copy is kept: a retry posted in a later batch is the same event again)."""
    if not contract.unique or table.num_rows < 2:
        return table
    repeats = repeated_rows([table.column(c).to_numpy() for c in contract.unique])
    if len(repeats) == 0:
        return table
    keep = np.ones(table.num_rows, dtype=bool)
    keep[repeats] = False
    return table.filter(pa.array(keep))


def repeated_rows(keys: list[np.ndarray]) -> np.ndarray:
    """Positions, ascending, of the rows whose ``keys`` an earlier row already holds (the
    first holder of a key is never listed). No sort when the rows are already in strictly
    increasing key order, as the simulator and a sorted log write them; otherwise one sort
    of a 64-bit hash of the keys proves the common case (no repeat) and only a table that
    has a repeat (or a hash collision) pays the exact lexicographic sort. On the large
    mall's 10.4M clicks, keyed on (request_id, product_id), that is 0.19 s where the exact
    sort takes 2.3 s (``bench_contracts``' ``contracts_large_clicks_key_check_seconds``)."""
    n = len(keys[0]) if keys else 0
    if n < 2 or _strictly_increasing(keys):
        return np.zeros(0, dtype=np.int64)
    hashed = _key_hash(keys)
    if hashed is not None:
        hashed.sort()
        if not (hashed[1:] == hashed[:-1]).any():  # distinct hashes: distinct keys
            return np.zeros(0, dtype=np.int64)
    order = np.lexsort([np.arange(n), *keys[::-1]])  # by key, then by position
    same = np.ones(n - 1, dtype=bool)
    for k in keys:
        ordered = k[order]
        same &= ordered[1:] == ordered[:-1]
    return np.sort(order[1:][same])


_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _key_hash(keys: list[np.ndarray]) -> np.ndarray | None:
    """A 64-bit hash per row of integer (or timestamp) ``keys`` (splitmix64's finaliser over
    each column in turn): equal keys always hash equal. None for other column types."""
    if not all(np.asarray(k).dtype.kind in "iubM" for k in keys):
        return None
    h = np.zeros(len(keys[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in keys:
            h ^= np.asarray(k).astype(np.int64, copy=False).view(np.uint64)
            h ^= h >> np.uint64(30)
            h *= _MIX[0]
            h ^= h >> np.uint64(27)
            h *= _MIX[1]
            h ^= h >> np.uint64(31)
    return h


def _strictly_increasing(keys: list[np.ndarray]) -> bool:
    """Whether rows are in strictly increasing lexicographic order of ``keys``."""
    greater = np.zeros(len(keys[0]) - 1, dtype=bool)
    equal = np.ones(len(keys[0]) - 1, dtype=bool)
    for k in keys:
        greater |= equal & (k[1:] > k[:-1])
        equal &= k[1:] == k[:-1]
    return bool(greater.all())


def write_table(data_dir: str | Path, table: str | TableContract, data: pa.Table) -> Path:
    """Validate ``data`` against its contract and write it atomically (tmp file + rename)."""
    contract = _contract(table)
    path = table_path(data_dir, contract.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    conformed = conform(data, contract, f"{contract.name} (being written)")
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(conformed, tmp, compression="zstd")
    tmp.replace(path)
    return path


def dataset_tables(data_dir: str | Path) -> list[str]:
    """Names of the contract tables present in a dataset folder."""
    return [name for name in TABLES if table_path(data_dir, name).exists()]


@dataclass
class DatasetReport:
    """What validating a dataset folder found: contract problems (each table's columns,
    values, unique key, and the foreign keys) and cross-table consistency findings."""

    problems: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    consistency_checked: bool = False

    @property
    def errors(self) -> list[str]:
        """What makes the dataset invalid: every problem and every consistency error."""
        return self.problems + [f.message() for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[str]:
        return [f.message() for f in self.findings if f.severity == "warning"]


def validate_dataset(data_dir: str | Path, check_references: bool = True,
                     consistency: ConsistencySettings | None = None) -> list[str]:
    """Validate every contract table of a dataset folder; return the errors found.

    Checks each table's columns, types and values, then (with ``check_references``) that
    foreign keys point at existing rows (e.g. every product's store exists), then (unless
    ``consistency.enabled`` is off) that the tables agree with each other
    (:mod:`ranking.contracts.consistency`; its warnings are in :func:`check_dataset`'s report).
    """
    return check_dataset(data_dir, check_references, consistency).errors


def check_dataset(data_dir: str | Path, check_references: bool = True,
                  consistency: ConsistencySettings | None = None,
                  progress: Callable[[str, int], None] | None = None) -> DatasetReport:
    """:func:`validate_dataset`'s checks, reported as problems, errors and warnings.

    ``progress(step, steps)`` is called before each step (a table read, a rule).
    """
    consistency = consistency or ConsistencySettings()
    steps = len(TABLES) + (len(RULES) if consistency.enabled else 0)
    report = DatasetReport()
    loaded: dict[str, pa.Table] = {}
    for name, contract in TABLES.items():
        if progress is not None:
            progress(f"reading {name}", steps)
        # keep only what the later checks read, each column in one chunk (numpy views, no copies)
        kept = {*contract.references, *referenced_columns(name), *CONSISTENCY_COLUMNS.get(name, ())}
        try:
            table = read_checked_columns(data_dir, contract, kept)
        except ContractError as exc:
            report.problems.append(str(exc))
            continue
        loaded[name] = one_chunk({c: table.column(c) for c in table.column_names})
        del table
    if check_references:
        report.problems += dangling_references(data_dir, loaded)
    if consistency.enabled:
        def rule_progress(rule: Rule) -> None:
            if progress is not None:
                progress(f"{rule.table}: {rule.name}", steps)

        report.findings = check_consistency(loaded, consistency, progress=rule_progress)
        report.consistency_checked = True
    return report


def referenced_columns(name: str) -> set[str]:
    """The columns of table ``name`` that another table's foreign keys point at."""
    return {target.split(".")[1] for contract in TABLES.values() for target in contract.references.values()
            if target.split(".")[0] == name}


def one_chunk(columns: dict[str, pa.ChunkedArray]) -> pa.Table:
    """A table of ``columns``, each combined into one chunk; ``columns`` is emptied as they
    are, so at most one column is held twice (100M impressions: 0.8 GB, not 3.4 GB)."""
    names = list(columns)
    combined = {}
    for name in names:
        combined[name] = pa.chunked_array([columns.pop(name).combine_chunks()])
    return pa.table(combined)


def dangling_references(data_dir: str | Path, loaded: dict[str, pa.Table]) -> list[str]:
    """A problem per foreign key of ``loaded`` that names a row its target table lacks."""
    problems: list[str] = []
    for name, contract in TABLES.items():
        if name not in loaded:
            continue
        for column, target in contract.references.items():
            target_table, target_column = target.split(".")
            if target_table not in loaded:
                continue
            values = pc.unique(loaded[name].column(column)).drop_null()
            known = loaded[target_table].column(target_column)
            unknown = values.filter(pc.invert(pc.is_in(values, known)))
            if len(unknown):
                shown = ", ".join(str(v) for v in unknown.to_pylist()[:5])
                problems.append(
                    f"{table_path(data_dir, name)}: column {column!r} has {len(unknown)} value(s) "
                    f"not found in {target} (e.g. {shown})"
                )
    return problems
