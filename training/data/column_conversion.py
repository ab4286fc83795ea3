"""Turning one source column (CSV text or a Parquet column) into one contract column.

``convert_column`` parses the values for the contract column's type (integers that are
whole and fit, numbers, booleans written as true/false/1/0/yes/no, timestamps by a strptime
format or as epoch seconds or milliseconds, naive times read in the mall's time zone), then
checks what the contract forbids (an empty cell where none may be, a value outside the
allowed set or range). Every bad cell is returned as a :class:`BadCell` with its row index,
so the importer can name the file, row and column; nothing is dropped or coerced in silence.
An empty cell of a string column that may not be null is the empty string (a CSV cannot
tell the two apart; the allowed values still judge it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from ranking.contracts.tables import Column

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})


@dataclass(frozen=True)
class BadCell:
    """One value that cannot fill its contract column: its row index (0-based) and why."""

    row: int
    value: object
    reason: str


def empty_cells(values: pd.Series) -> np.ndarray:
    """Missing values and blank strings: what a CSV writes for "no value"."""
    empty = values.isna().to_numpy(copy=True)
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        empty |= values.astype(str).str.strip().eq("").to_numpy() & ~empty
    return empty


def convert_column(values: pd.Series, column: Column, timestamp_format: str | None = None,
                   timezone: str = "Asia/Shanghai") -> tuple[pa.Array, list[BadCell]]:
    """``values`` as the contract column's Arrow type, with every cell that cannot be (see module)."""
    values = values.reset_index(drop=True)
    empty = empty_cells(values)
    t = column.type
    if pa.types.is_string(t) and not column.nullable:  # a CSV cannot tell "" from no value
        values = values.astype(object).where(~empty, "")
        empty = np.zeros(len(values), dtype=bool)
    if pa.types.is_timestamp(t):
        parsed, bad = _timestamps(values, empty, timestamp_format, timezone)
    elif pa.types.is_boolean(t):
        parsed, bad = _booleans(values, empty)
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        parsed, bad = _numbers(values, empty, t)
    else:
        parsed, bad = values.where(~empty).astype(object).map(_text), []
    bad_rows = {b.row for b in bad}
    nulls = empty | np.isin(np.arange(len(values)), list(bad_rows))
    if not column.nullable:
        bad += [BadCell(int(i), "", "is empty but may not be") for i in np.flatnonzero(empty)]
    bad += _outside_contract(values, parsed, nulls, column)
    plain = pa.types.is_string(t)  # strings carry their nulls as None
    array = pa.array(_for_arrow(parsed, nulls, t), type=t, mask=None if plain else nulls)
    return array, sorted(bad, key=lambda b: b.row)


def _cells(values: pd.Series, mask: np.ndarray, reason: str) -> list[BadCell]:
    return [BadCell(int(i), values.iloc[i], reason) for i in np.flatnonzero(mask)]


def _text(value: object) -> object:
    return value if value is None or value != value else str(value)  # NaN != NaN: no value


def _numbers(values: pd.Series, empty: np.ndarray, t: pa.DataType) -> tuple[np.ndarray, list[BadCell]]:
    numbers = pd.to_numeric(values.where(~empty), errors="coerce").to_numpy(dtype=np.float64)
    bad_mask = ~empty & np.isnan(numbers)
    bad = _cells(values, bad_mask, f"is not a number (expected {t})")
    if pa.types.is_integer(t):
        info = np.iinfo(t.to_pandas_dtype())
        ok = ~empty & ~bad_mask
        fraction = ok & (np.floor(numbers) != numbers)
        too_big = ok & ~fraction & ((numbers < info.min) | (numbers > info.max))
        bad += _cells(values, fraction, f"is not a whole number (expected {t})")
        bad += _cells(values, too_big, f"does not fit {t} ({info.min} to {info.max})")
    return numbers, bad


def _booleans(values: pd.Series, empty: np.ndarray) -> tuple[np.ndarray, list[BadCell]]:
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).to_numpy(dtype=bool), []
    words = values.astype(str).str.strip().str.lower()
    yes, no = words.isin(TRUE_WORDS).to_numpy(), words.isin(FALSE_WORDS).to_numpy()
    bad_mask = ~empty & ~yes & ~no
    bad = _cells(values, bad_mask, "is not a boolean (true/false, 1/0, yes/no)")
    return yes, bad


def _timestamps(values: pd.Series, empty: np.ndarray, fmt: str | None,
                timezone: str) -> tuple[np.ndarray, list[BadCell]]:
    source = values.where(~empty)
    if fmt in ("epoch_ms", "epoch_s"):
        numbers = pd.to_numeric(source, errors="coerce")
        parsed = pd.to_datetime(numbers, unit="ms" if fmt == "epoch_ms" else "s", utc=True, errors="coerce")
        expected = f"epoch {'milliseconds' if fmt == 'epoch_ms' else 'seconds'}"
    elif pd.api.types.is_datetime64_any_dtype(source):
        parsed, expected = source, "a time"
    else:
        parsed = pd.to_datetime(source.astype(object), format=fmt or "ISO8601", errors="coerce")
        expected = f"a time like {fmt!r}" if fmt else "an ISO 8601 time (or set timestamps.<column>)"
    if getattr(parsed.dt, "tz", None) is None:
        parsed = parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    parsed = parsed.dt.tz_convert("UTC")
    bad_mask = ~empty & parsed.isna().to_numpy()
    bad = _cells(values, bad_mask, f"is not {expected} (or does not exist in {timezone})")
    ms = np.zeros(len(values), dtype=np.int64)
    ok = ~parsed.isna().to_numpy()
    ms[ok] = parsed[ok].to_numpy(dtype="datetime64[ms]").astype(np.int64)
    return ms, bad


def _outside_contract(values: pd.Series, parsed, nulls: np.ndarray, column: Column) -> list[BadCell]:
    bad: list[BadCell] = []
    if column.allowed is not None:
        allowed = pd.Series(parsed).isin(column.allowed).to_numpy()
        shown = ", ".join(repr(a) for a in column.allowed)
        bad += _cells(values, ~nulls & ~allowed, f"is not one of {shown} (map it in values.{column.name})")
    if column.min is not None or column.max is not None:
        numbers = np.asarray(parsed, dtype=np.float64)
        low = ~nulls & (numbers < column.min) if column.min is not None else np.zeros(len(nulls), bool)
        high = ~nulls & (numbers > column.max) if column.max is not None else np.zeros(len(nulls), bool)
        bad += _cells(values, low, f"is below the minimum {column.min}")
        bad += _cells(values, high, f"is above the maximum {column.max}")
    return bad


def _for_arrow(parsed, nulls: np.ndarray, t: pa.DataType):
    if pa.types.is_timestamp(t):
        return np.where(nulls, 0, parsed).astype("datetime64[ms]")
    if pa.types.is_integer(t):
        return np.where(nulls, 0, parsed).astype(t.to_pandas_dtype())
    if pa.types.is_floating(t):
        return np.where(nulls, 0.0, parsed).astype(np.float64)
    if pa.types.is_boolean(t):
        return np.where(nulls, False, parsed).astype(bool)
    return [None if n else v for v, n in zip(parsed, nulls, strict=True)]
