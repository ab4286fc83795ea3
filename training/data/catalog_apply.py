"""Bulk catalog changes from a file: ``shelfrank catalog apply FILE.parquet|.csv``.

A file holds one kind of change (``kind``):

* ``products``: one product upsert per row, columns of the ``products`` contract (docs/data.md)
  plus ``changed_at``; an empty cell (CSV) or a null (Parquet) is a column the row does not
  change, so one file may hold new products (every column) and updates (a few);
* ``stores``: one ``stores`` row per row;
* ``bans``: ``product_id`` or ``store_id``, ``reason``, ``unban`` (true/false) per row; rows of
  one reason and direction go as one ban request.

CSV cells are typed by the contract (integers, numbers, ``true``/``false``, times as epoch ms
or ISO 8601). :func:`read_changes` checks every row against the contract before anything is
sent (a bad value is a :class:`CatalogFileError` naming its line and field: nothing is applied);
then the rows go in chunks of ``catalog.max_rows_per_request``, either to a running service
(:class:`HttpSender`: the catalog API with the operator token) or straight into an event log
(:class:`LogSender`: checked against a bundle's catalog and the changes already in that log,
appended durably; the service replays it at its next start, or follows it if it runs on that
log). What only the catalog can say (a new product missing a column, an unknown store) is
checked per chunk: a refused chunk stops the run, naming its lines; the chunks before it stay
applied (they are durable), and the summary says how many.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ranking.catalog_changes import (
    BANS,
    CHANGED_FIELD,
    PRODUCT_CHANGES,
    STORE_CHANGES,
    CatalogInputError,
    check_ban,
    check_products,
    check_stores,
    check_value,
)
from ranking.contracts.tables import PRODUCTS, STORES, Column
from ranking.event_log import EventLog
from ranking.features.snapshot import FeatureSnapshot
from ranking.live.catalog_feed import LogCatalogFeed
from ranking.live.catalog_state import CatalogState, CatalogView

KINDS = ("products", "stores", "bans")
API_PATHS = {"products": ("PUT", "/v1/catalog/products"), "stores": ("PUT", "/v1/catalog/stores"),
             "bans": ("POST", "/v1/catalog/bans")}
BAN_COLUMNS = (Column("product_id", pa.int64(), "a product to ban", nullable=True),
               Column("store_id", pa.int32(), "a store to ban", nullable=True),
               Column("reason", pa.string(), "why"),
               Column("unban", pa.bool_(), "lift the ban", nullable=True))
CHANGED = Column(CHANGED_FIELD, pa.timestamp("ms", tz="UTC"), "when the change happened", nullable=True)


class CatalogFileError(ValueError):
    """Rows of the file that cannot be applied, each named by line (CSV) or row (Parquet) and field."""


@dataclass
class ApplySummary:
    rows: int = 0
    sent: int = 0
    new: int = 0
    requests: int = 0
    answers: list[dict] = field(default_factory=list)


def _columns(kind: str) -> dict[str, Column]:
    base = {"products": PRODUCTS.columns, "stores": STORES.columns, "bans": BAN_COLUMNS}[kind]
    return {c.name: c for c in (*base, CHANGED)}


def _cell(col: Column, text: str) -> Any:
    """A CSV cell typed by the contract (an empty cell is None: not changed)."""
    if text == "":
        return None
    kind = col.type
    if pa.types.is_boolean(kind):
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError("must be true or false")
        return lowered in ("true", "1")
    if pa.types.is_integer(kind):
        return int(text)
    if pa.types.is_floating(kind):
        return float(text)
    if pa.types.is_timestamp(kind):
        return int(text) if text.strip().isdigit() else text
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return value


def read_changes(path: Path, kind: str) -> tuple[list[dict], list[str]]:
    """The file's rows (fields it changes only) and each row's place (``line 7`` / ``row 6``);
    CatalogFileError naming every bad place and field."""
    columns = _columns(kind)
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        raw, places = frame.to_dict("records"), [f"line {i + 2}" for i in range(len(frame))]
        typed = lambda col, v: _cell(col, v)  # noqa: E731
    elif path.suffix.lower() == ".parquet":
        raw = pq.read_table(path).to_pylist()
        places = [f"row {i + 1}" for i in range(len(raw))]
        typed = lambda col, v: _plain(v)  # noqa: E731
    else:
        raise CatalogFileError(f"{path}: not a .csv or .parquet file")
    rows, problems = [], []
    for place, record in zip(places, raw, strict=True):
        row = {}
        for name, value in record.items():
            col = columns.get(name)
            if col is None:
                problems.append(f"{path} {place}: {name}: unknown column; the columns are {sorted(columns)}")
                continue
            try:
                value = typed(col, value)
                if value is not None:
                    row[name] = check_value(col, value)
            except (ValueError, TypeError) as exc:
                problems.append(f"{path} {place}: {name}: {exc}")
        rows.append(row)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CatalogFileError(f"{len(problems)} bad value(s), nothing applied:\n  {shown}{more}")
    return rows, places


def ban_requests(rows: list[dict]) -> Iterator[tuple[dict, list[int]]]:
    """Ban rows as requests (one per reason and direction) with the indexes of their rows."""
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row.get("reason", ""), bool(row.get("unban", False))), []).append(i)
    for (reason, unban), members in groups.items():
        body = {"product_ids": sorted({rows[i]["product_id"] for i in members if "product_id" in rows[i]}),
                "store_ids": sorted({rows[i]["store_id"] for i in members if "store_id" in rows[i]}),
                "reason": reason, "unban": unban}
        yield body, members


class HttpSender:
    """The catalog API of a running service (operator token)."""


    def __init__(self, url: str, token: str) -> None:
        import httpx2

        self.client = httpx2.Client(base_url=url.rstrip("/"), timeout=60.0,
                                    headers={"Authorization": f"Bearer {token}"})

    def send(self, kind: str, body: Any) -> dict:
        method, path = API_PATHS[kind]
        r = self.client.request(method, path, json=body)
        if r.status_code == 422:
            detail = r.json().get("detail", [])
            raise CatalogInputError([_problem(d) for d in detail] if isinstance(detail, list) else [])
        if r.status_code != 200:
            raise CatalogFileError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()


def _problem(detail: dict):
    from ranking.catalog_changes import CatalogProblem

    return CatalogProblem(list(detail.get("loc", [])), str(detail.get("msg", "")))


class LogSender:
    """Straight into an event log, checked against a bundle's catalog and the changes already logged."""

    def __init__(self, events_dir: Path, bundle: Path, max_ban_ids: int) -> None:
        self.log = EventLog(events_dir)
        snapshot = FeatureSnapshot.load(Path(bundle) / "snapshot")
        self.state = CatalogState()
        feed = LogCatalogFeed(events_dir)
        self.state.fold(feed.poll())
        feed.close()
        self.view = CatalogView(lambda: snapshot, self.state)
        self.max_ban_ids = max_ban_ids

    def send(self, kind: str, body: Any) -> dict:
        now = int(time.time() * 1000)
        if kind == "bans":
            row = check_ban(body, self.view, now, self.max_ban_ids)
            self._append(BANS, [row])
            return {"products": len(row["product_ids"]), "stores": len(row["store_ids"])}
        check = check_products if kind == "products" else check_stores
        rows, new = check(body, self.view, now)
        self._append(PRODUCT_CHANGES if kind == "products" else STORE_CHANGES, rows)
        return {"accepted": len(rows), "new": new, "updated": len(rows) - new}

    def _append(self, table: str, rows: list[dict]) -> None:
        self.log.append({table: rows}, client="shelfrank catalog apply")
        self.state.fold([(table, r) for r in rows])  # the next chunk sees these (new products, stores)


def apply_file(path: Path, kind: str, sender: HttpSender | LogSender, chunk: int,
               progress: Callable[[int], None] | None = None) -> ApplySummary:
    """Read, check and send the file's changes (module docstring); CatalogFileError on a refusal."""
    rows, places = read_changes(path, kind)
    summary = ApplySummary(rows=len(rows))
    if kind == "bans":
        batches = list(ban_requests(rows))
    else:
        batches = [(rows[i:i + chunk], list(range(i, min(i + chunk, len(rows)))))
                   for i in range(0, len(rows), chunk)]
    for body, members in batches:
        try:
            answer = sender.send(kind, body)
        except CatalogInputError as exc:
            named = [f"{path} {_place(p.loc, members, places)}: {p.loc[-1]}: {p.msg}"
                     for p in exc.problems[:20]]
            raise CatalogFileError(f"refused after {summary.sent:,} of {len(rows):,} rows were applied "
                                   "(those stay applied):\n  " + "\n  ".join(named)) from exc
        summary.sent += len(members)
        summary.new += int(answer.get("new", 0))
        summary.requests += 1
        summary.answers.append(answer)
        if progress is not None:
            progress(len(members))
    return summary


def _place(loc: list, members: list[int], places: list[str]) -> str:
    if len(loc) >= 2 and isinstance(loc[1], int) and loc[1] < len(members):
        return places[members[loc[1]]]
    return f"{places[members[0]]}..{places[members[-1]]}"
