"""Row-by-row references of what the live tails do with a poll's rows (the code both backends ran
on one dict per row before they read columns): the tests compare the columnar path with them."""

from __future__ import annotations

import pyarrow as pa

from ranking.live.batch import REPLAY_ORDER
from ranking.live.channel_exposures import HOUR_MS
from ranking.live.log_rows import TABLE_COLUMNS
from ranking.surfaces import CHANNEL, SUBSIDY_CHANNEL


def channel_rows(rows: list[dict]) -> dict:
    """The subsidy channel's counts of dict rows, row by row."""
    counts: dict = {}
    for row in rows:
        if row.get("surface") == CHANNEL and row.get("channel") == SUBSIDY_CHANNEL:
            try:
                key = (int(row["timestamp"]) // HOUR_MS, int(row["product_id"]))
            except (KeyError, TypeError, ValueError):
                continue
            counts[key] = counts.get(key, 0) + 1
    return counts


def first_showings(shown: dict, memory: int, rows: list[dict]) -> list[dict]:
    """The rows to apply, row by row (``shown``: the remembered keys, oldest first)."""
    out = []
    for r in rows:
        if r.get("user_id") is None and not r.get("session_id"):
            continue
        key = (r.get("request_id"), r.get("product_id"))
        if key in shown:
            continue
        shown[key] = None
        if len(shown) > memory:
            del shown[next(iter(shown))]
        out.append(r)
    return out


def log_tables(rows: dict[str, list[dict]]) -> dict[str, pa.Table]:
    """The Arrow tables of dict rows, column by column."""
    return {t: pa.table({n: [r.get(n) for r in rs] for n in TABLE_COLUMNS if any(n in r for r in rs)})
            for t, rs in ((t, rows.get(t)) for t in REPLAY_ORDER) if rs}
