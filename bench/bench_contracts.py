"""The cost of the data contracts' integrity checks at each bench scale.

* ``read_table`` of every table that has a unique key, and the key check inside it
  (``duplicate_rows``): a file sorted by its key costs one pass; one that is not (clicks,
  keyed on request and product) one sort of a 64-bit hash of the key.
* ``/v1/events``'s batch checks (``serving.event_checks.batch_problems``: keys repeated in
  the batch, pages that contradict themselves, ids and stores against the bundle's
  catalog) on a full batch of ``serving.max_events_per_post`` real rows of the mall, half
  impressions and half clicks, against the scale's bundle; best of 3. The rows are the
  mall's own, so the check must find no problem (reported as ``..._problems``).
* the cross-table consistency pass ``shelfrank validate`` runs after the contracts
  (``ranking.contracts.consistency.check_consistency``, every rule) on the columns it reads,
  loaded as validate keeps them (one chunk per column): ``consistency_<scale>_seconds``,
  with the rows read and the rules broken (the simulated mall breaks none).
"""

from __future__ import annotations

import time

import pyarrow as pa

from bench.context import BenchContext


def bench(ctx: BenchContext) -> dict:
    from ranking.contracts import TABLES, read_table
    from ranking.contracts.io import duplicate_rows
    from ranking.engine import Engine
    from ranking.settings import load_settings
    from serving.event_checks import batch_problems

    settings = load_settings()
    out: dict = {}
    for scale in ctx.scales:
        mall = ctx.mall(scale)
        for name, contract in TABLES.items():
            if not contract.unique:
                continue
            started = time.perf_counter()
            table = read_table(mall, contract)
            read = time.perf_counter() - started
            started = time.perf_counter()
            assert duplicate_rows(table, contract, name) is None
            check = time.perf_counter() - started
            out[f"contracts_{scale}_{name}_rows"] = table.num_rows
            out[f"contracts_{scale}_{name}_read_seconds"] = round(read, 3)
            out[f"contracts_{scale}_{name}_key_check_seconds"] = round(check, 3)
        out.update(_consistency(mall, scale, settings))
        if scale == "large":
            continue  # the batch check does not grow with the mall; the default one says it
        engine = Engine.load(ctx.bundle(scale), settings)
        half = settings.serving.max_events_per_post // 2
        batch = {t: _rows(read_table(mall, t).slice(0, half)) for t in ("impressions", "clicks")}
        times = []
        for _ in range(3):
            started = time.perf_counter()
            problems = batch_problems(batch, [engine])
            times.append(time.perf_counter() - started)
        out[f"events_batch_check_{scale}_rows"] = sum(len(r) for r in batch.values())
        out[f"events_batch_check_{scale}_ms"] = round(min(times) * 1000, 2)
        out[f"events_batch_check_{scale}_problems"] = len(problems)
    return out


def _consistency(mall, scale: str, settings) -> dict:
    """The consistency pass on the columns it reads, as validate holds them."""
    from ranking.contracts import read_table
    from ranking.contracts.consistency import COLUMNS, check_consistency
    from ranking.contracts.io import one_chunk

    tables = {}
    for name, columns in COLUMNS.items():
        table = read_table(mall, name, columns)
        kept = {c: table.column(c) for c in table.column_names}
        del table
        tables[name] = one_chunk(kept)
    started = time.perf_counter()
    findings = check_consistency(tables, settings.consistency)
    seconds = time.perf_counter() - started
    return {f"consistency_{scale}_rows": sum(t.num_rows for t in tables.values()),
            f"consistency_{scale}_seconds": round(seconds, 2),
            f"consistency_{scale}_broken_rules": len(findings)}


def _rows(table: pa.Table) -> list[dict]:
    """Rows as ``/v1/events`` hands them to the checks (timestamps as epoch milliseconds)."""
    columns = {name: (col.cast(pa.int64()) if pa.types.is_timestamp(col.type) else col).to_pylist()
               for name, col in zip(table.column_names, table.columns, strict=True)}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
