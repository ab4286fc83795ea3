"""Feature building on a Dask cluster: one task per snapshot cut (a week by default).

Each cut's work is independent of the others: its point-in-time snapshots (platform
scores and user profiles from events before each day of the cut, ``training.score_cadence_days``)
and the features of its cards (the
requests of the cut's days). So the driver submits one task per cut; each task reads the
mall's Parquet tables from the data directory itself (shared storage, the same path on
every worker), builds the snapshot and the features with the same code as the local build
(:func:`training.learning.dataset.featurise_cut`) and returns its rows into worker memory
(:func:`submit_cuts`: futures). Training leaves them there
(:mod:`training.dask.parts`). :func:`build_ranking_frame_on_dask` gathers them
instead, as they complete, and sorts by request and position exactly as
:func:`training.learning.dataset.build_ranking_frame` does: the frame is identical, row for row,
which is the proof that the cluster computes the local features (tests) and what the
feature bench measures.

Impressions are read per task with only the columns needed: the whole history's
``timestamp`` and ``product_id`` before the cut (the score windows), and every featurised
column only for the cut's own days. The other tables (a tenth of the impressions or less)
are read whole. Why futures rather than Dask dataframes or DuckDB, and why in worker
memory rather than Parquet: see docs/scaling.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from ranking.contracts.frames import load_frames, table_frame
from ranking.contracts.io import read_table, table_path
from ranking.contracts.tables import TABLES
from ranking.features import feature_names
from ranking.settings import Settings
from training.data.mall_data import MallTables
from training.learning.dataset import (
    DAY_MS,
    RankingFrame,
    card_columns,
    concat_frames,
    cut_days,
    day_index,
    day_zero_ms,
    featurise_cut,
    query_texts,
    sort_frame,
    wanted_rows,
)
from training.learning.live_replay import live_feature_rows
from training.learning.snapshot_builder import CatalogCache

CONNECT_TIMEOUT_S = 10
IMPRESSION_COLUMNS = ("request_id", "timestamp", "user_id", "surface", "query_id", "product_id",
                      "position", "propensity")
# what the score windows read of impressions, and the live replay (shopper, request, query)
HISTORY_COLUMNS = ("timestamp", "product_id", "user_id", "request_id", "query_id")
OTHER_TABLES = tuple(name for name in TABLES if name != "impressions")


class DaskClusterError(RuntimeError):
    """The Dask cluster cannot do the work (unreachable, or cannot see the data)."""


def connect(scheduler: Any):
    """A ``distributed.Client`` for an address (or the Client given); a clear error if unreachable."""
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskClusterError(
            f"cannot reach the Dask scheduler at {scheduler!r} within {CONNECT_TIMEOUT_S} s "
            f"({type(exc).__name__}: {exc}); start one with `dask scheduler` and "
            "`dask worker ADDRESS`, or train without --dask-scheduler") from None


def _sees_tables(data_dir: str) -> bool:
    return all(table_path(data_dir, name).is_file() for name in TABLES)


def check_workers_see(client, data_dir: str | Path) -> None:
    """Raise :class:`DaskClusterError` unless every worker sees the mall's Parquet tables."""
    data_dir = str(data_dir)
    seen = client.run(_sees_tables, data_dir)
    if not seen:
        raise DaskClusterError("the Dask cluster has no workers")
    blind = sorted(worker for worker, ok in seen.items() if not ok)
    if blind:
        raise DaskClusterError(
            f"{len(blind)} of {len(seen)} Dask workers ({', '.join(blind[:3])}"
            f"{', ...' if len(blind) > 3 else ''}) cannot see the mall's Parquet tables at "
            f"{data_dir}; feature building on the cluster reads them from shared storage: mount "
            "the data folder at the same path on every worker")


def _timestamps_ms(table: pa.Table) -> np.ndarray:
    return pc.cast(table.column("timestamp"), pa.int64()).to_numpy()


def _read_cut(data_dir: str, lo_ms: int, hi_ms: int) -> tuple[MallTables, pd.DataFrame]:
    """The tables one cut needs: the mall with impressions as history before ``lo_ms``
    (score-window columns only), and the cut's own impression rows ``[lo_ms, hi_ms)``."""
    tables = load_frames(data_dir, OTHER_TABLES)
    imp = read_table(data_dir, "impressions", IMPRESSION_COLUMNS)
    ts = _timestamps_ms(imp)
    cut = table_frame(imp.filter(pa.array((ts >= lo_ms) & (ts < hi_ms))))
    history = imp.select(list(HISTORY_COLUMNS)).filter(pa.array(ts < lo_ms))
    del imp, ts
    tables["impressions"] = table_frame(history)
    return MallTables(Path(data_dir), tables), cut


_CATALOG: dict[tuple, CatalogCache] = {}  # this worker process's, of the latest catalog


def _catalog(mall: MallTables) -> CatalogCache:
    """The worker's :class:`CatalogCache` of this catalog (built once per worker, not per cut:
    tokenising the catalog costs seconds); keyed by the catalog files' size and mtime."""
    key = (str(mall.data_dir), *(
        (st.st_size, st.st_mtime_ns) for st in (table_path(mall.data_dir, name).stat()
                                                for name in ("products", "categories", "brands"))))
    if key not in _CATALOG:
        _CATALOG.clear()
        _CATALOG[key] = CatalogCache(mall)
    return _CATALOG[key]


def featurise_cut_task(data_dir: str, settings: Settings, zero_ms: int, cut: int, end: int,
                       first_cut: int, days: tuple[int, int] | None, search=None) -> RankingFrame | None:
    """One task: the cards of mall days ``[cut, end)`` featurised from the snapshot at ``cut``."""
    mall, imp = _read_cut(data_dir, zero_ms + cut * DAY_MS, zero_ms + end * DAY_MS)
    columns = card_columns(imp, mall, zero_ms, settings)
    wanted = wanted_rows(columns[0], imp.request_id.to_numpy(), first_cut, settings, days)
    rows = np.flatnonzero(wanted)
    if len(rows) == 0:
        return None
    upto = _with_cut_impressions(mall, imp)
    live = live_feature_rows(upto, imp, rows, settings) if settings.training.live_features else None
    parts = featurise_cut(upto, imp, rows, zero_ms + cut * DAY_MS, settings, columns,
                          query_texts(mall), _catalog(mall), search, live)
    return parts[0] if len(parts) == 1 else concat_frames(parts, parts[0].feature_names)


def _with_cut_impressions(mall: MallTables, imp: pd.DataFrame) -> MallTables:
    """The mall with the cut's own impressions after the history: the live replay reads them from
    the start, and the daily snapshots within the cut (training.score_cadence_days) count the
    ones before each, as the local build does (the same values)."""
    tables = dict(mall.tables)
    tables["impressions"] = pd.concat([mall["impressions"], imp[list(HISTORY_COLUMNS)]], ignore_index=True)
    return MallTables(mall.data_dir, tables)


def mall_days(data_dir: str | Path, settings: Settings) -> tuple[int, int]:
    """(UTC ms of day zero, number of logged days), from the impressions' timestamps only."""
    ts = _timestamps_ms(read_table(data_dir, "impressions", ["timestamp"]))
    zero = day_zero_ms(int(ts.min()), settings.mall.timezone)
    n_days = int(day_index(np.array([ts.max()]), zero)[0]) + 1
    return zero, n_days


def submit_cuts(client, data_dir: Path, settings: Settings, days: tuple[int, int] | None = None,
                search=None) -> list:
    """One :func:`featurise_cut_task` future per snapshot cut, in cut order (a part, or None
    when the cut has no wanted cards); the parts stay on the workers until fetched."""
    zero, n_days = mall_days(data_dir, settings)
    cuts = cut_days(n_days, settings)
    if not cuts:
        raise ValueError(f"{n_days} logged days end within the warm-up "
                         f"({settings.training.warmup_days} days): no cards to featurise")
    light = search.dense_only() if search is not None else None
    shipped = client.scatter(light, broadcast=True) if light is not None else None
    futures = []
    for k, cut in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else n_days
        futures.append(client.submit(featurise_cut_task, str(data_dir), settings, zero, cut, end,
                                     cuts[0], days, shipped, pure=False,
                                     key=f"shelfrank-features-cut{cut}-{os.urandom(4).hex()}"))
    return futures


def build_ranking_frame_on_dask(data_dir: str | Path, settings: Settings, scheduler: Any,
                                progress: bool = True, days: tuple[int, int] | None = None,
                                search=None) -> RankingFrame:
    """:func:`training.learning.dataset.build_ranking_frame` of the mall in ``data_dir``, one Dask task
    per snapshot cut (module docstring); the same frame, gathered on this machine.

    Training does not use this (:mod:`training.dask.parts` keeps the parts on the
    workers); it is the proof that the cluster builds the local frame, and the feature bench.
    """
    from distributed import as_completed

    data_dir = Path(data_dir).resolve()
    client = connect(scheduler)
    try:
        check_workers_see(client, data_dir)
        futures = submit_cuts(client, data_dir, settings, days, search)
        index = {f.key: k for k, f in enumerate(futures)}
        parts: list[RankingFrame | None] = [None] * len(futures)  # in cut order
        bar = tqdm(total=len(futures), desc="building features (dask, per cut)", unit="cut",
                   disable=not progress)
        cards = 0
        for future in as_completed(futures):
            part = future.result()
            parts[index[future.key]] = part
            future.release()
            cards += len(part) if part is not None else 0
            bar.set_postfix(cards=f"{cards:,}")
            bar.update(1)
        bar.close()
        del futures
        parts = [p for p in parts if p is not None]
        if not parts:
            raise ValueError("no cards to featurise on those days")
        return sort_frame(parts, feature_names())
    finally:
        if client is not scheduler:
            client.close()


def frames_equal(a: RankingFrame, b: RankingFrame) -> list[str]:
    """Names of the columns where two frames differ (NaN equal to NaN); empty if identical."""
    out = []
    for key, value in a.__dict__.items():
        other = getattr(b, key)
        if isinstance(value, np.ndarray):
            if value.shape != other.shape or value.dtype != other.dtype or not np.array_equal(
                    value, other, equal_nan=value.dtype.kind == "f"):
                out.append(key)
        elif value != other:
            out.append(key)
    return out
