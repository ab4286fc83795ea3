"""The catalog as it was at each training request: prices, stock, subsidy and bans point in time.

``merge-events`` leaves the merged ``products`` table at the state after the last logged catalog
change, beside ``product_changes`` (every change with its time) and ``product_originals`` (the
values before the first change; :mod:`training.data.catalog_import`). A snapshot built from
those products alone would train a request from before a price cut with the cut price.

:class:`CatalogTimeline` replays the history over one feature snapshot
(:meth:`CatalogTimeline.over`): starting from the originals (a product without one starts from the
snapshot's values), each moment a change happened moves the changed products' ``price``,
``list_price``, ``stock``, ``subsidy`` and ban (its own, and its store's kept apart, so a store
unban gives a product back its own ban) and recomputes ``price_advantage`` for every listing of
the comparable groups it touched, with the function scoring and the live catalog use
(:func:`ranking.scores.price_advantage.group_price_advantage`, the snapshot's outside and category
references). :meth:`SnapshotTimeline.values` then gives each (product, request time) the state as
of its last change at or before that time, and ``log_price_vs_category`` moved by the change of log
price against the snapshot. Products outside the touched groups are NaN: the snapshot's values
stand. A dataset without ``product_changes`` has no timeline and trains exactly as before.

:meth:`CatalogTimeline.products_as_of` gives the whole products table as it stood at a moment
(a snapshot's midnight): what that snapshot's scores, leaf price medians and shopper profiles read
(:func:`training.learning.snapshot_builder.catalog_as_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ranking.catalog_changes import PRODUCT_CHANGES_HISTORY, PRODUCT_ORIGINALS
from ranking.contracts import read_table
from ranking.contracts.io import table_path
from ranking.features.snapshot import FeatureSnapshot
from ranking.scores.price_advantage import group_price_advantage

STATE = ("price", "list_price", "stock", "subsidy", "own_ban", "store_ban")
AS_OF = ("price", "list_price", "stock", "subsidy", "banned", "price_advantage", "log_price_vs_category")
TIME_BITS = 42  # epoch ms below 2^42 (year 2109): a (member, time) pair as one sortable int64


@dataclass
class CatalogTimeline:
    """The change history (sorted by change time, then arrival) and the originals of a dataset."""

    history: pd.DataFrame
    originals: pd.DataFrame  # indexed by product_id

    @classmethod
    def load(cls, data_dir: str | Path) -> CatalogTimeline | None:
        """The dataset's timeline, None when it has no ``product_changes`` (or an empty one)."""
        if not table_path(data_dir, PRODUCT_CHANGES_HISTORY.name).exists():
            return None
        history = read_table(data_dir, PRODUCT_CHANGES_HISTORY).to_pandas()
        if not len(history):
            return None
        originals = (read_table(data_dir, PRODUCT_ORIGINALS).to_pandas()
                     if table_path(data_dir, PRODUCT_ORIGINALS.name).exists()
                     else pd.DataFrame(columns=["product_id", "price", "list_price", "stock", "subsidy",
                                                "banned"]))
        return cls.from_frames(history, originals)

    @classmethod
    def from_frames(cls, history: pd.DataFrame, originals: pd.DataFrame) -> CatalogTimeline:
        h = history.copy()
        for col in ("changed_at", "received_at"):
            h[col] = _epoch_ms(h[col])
        h = h.sort_values(["changed_at", "received_at"], kind="stable").reset_index(drop=True)
        return cls(h, originals.set_index("product_id"))

    def over(self, snapshot: FeatureSnapshot, clip: float, since_ms: int = -1,
             until_ms: int | None = None) -> SnapshotTimeline:
        """The timeline of the snapshot's products (see the module docstring), for requests from
        ``since_ms`` to ``until_ms`` (inclusive; None: every change): the changes before are
        folded into the starting state, the ones after left out, so a cut replays only its own."""
        cols = snapshot.products.columns
        group = cols["comparable_group_id"].astype(np.int64)
        rows_changed = snapshot.products.rows(self.history.product_id.to_numpy(np.int64))
        times = self.history.changed_at.to_numpy(np.int64)
        # every changed product starts from its original, even when its changes come later
        members = np.flatnonzero(np.isin(group, np.unique(group[rows_changed[rows_changed >= 0]])))
        known = (rows_changed >= 0) & (times <= (np.iinfo(np.int64).max if until_ms is None else until_ms))
        local = np.full(len(group), -1, np.int64)
        local[members] = np.arange(len(members))
        replay = _Replay(group[members], self._start(snapshot, members), cols, members, clip)
        change_local, times = local[rows_changed[known]], times[known]
        changes = self.history[known].to_dict("records")
        ahead = int(np.searchsorted(times, since_ms, side="right"))
        for i in range(ahead):
            replay.apply(int(change_local[i]), changes[i])
        replay.record(np.arange(len(members)), -1)
        for lo, hi in _runs(times[ahead:]):
            for i in range(ahead + lo, ahead + hi):
                replay.apply(int(change_local[i]), changes[i])
            replay.reprice(change_local[ahead + lo:ahead + hi], int(times[ahead + lo]))
        return replay.timeline(local, snapshot)

    def products_as_of(self, products: pd.DataFrame, as_of_ms: int) -> tuple[pd.DataFrame, np.ndarray]:
        """``products`` (the merged, final table, sorted by ``product_id``) as the catalog stood just
        before ``as_of_ms``, and whether each product existed then.

        A changed product starts from its original, then takes the last value of each of ``price``,
        ``list_price``, ``stock`` and ``subsidy`` a change before the moment sent; ``banned`` is its
        own last ban (an upsert's flag, a ban, an unban) or its store's (a store ban, an unban).
        A product without an original (a new listing) existed only once a change had been sent.
        Products no change touched keep their row. Vectorised: one group-by per column."""
        out = products.reset_index(drop=True).copy()
        ids = out.product_id.to_numpy(np.int64)
        h = self.history[self.history.changed_at.to_numpy(np.int64) < as_of_ms]
        has_original = np.isin(ids, self.originals.index.to_numpy(np.int64))
        changed_ever = np.isin(ids, self.history.product_id.to_numpy(np.int64))
        exists = ~changed_ever | has_original | np.isin(ids, h.product_id.to_numpy(np.int64))
        rows = np.flatnonzero(has_original)
        first = self.originals.loc[ids[rows]]
        for name in (*STATE[:4], "banned"):
            out[name] = _assign(out[name], rows, first[name].to_numpy())
        out["banned"] = _assign(out["banned"], np.flatnonzero(changed_ever & ~has_original), False)
        kind = h.kind.to_numpy()
        flags = {
            "own": np.where(kind == "upsert", h.banned.to_numpy(float, na_value=np.nan),
                            np.where(kind == "ban", 1.0, np.where(kind == "unban", 0.0, np.nan))),
            "store": np.where(kind == "store_ban", 1.0, np.where(kind == "store_unban", 0.0, np.nan)),
        }
        latest = pd.DataFrame({"product_id": h.product_id.to_numpy(np.int64),
                               **{n: h[n].to_numpy(float, na_value=np.nan) for n in STATE[:4]},
                               **flags}).groupby("product_id").last()  # last non-null, in time order
        at = np.searchsorted(ids, latest.index.to_numpy(np.int64))
        known = (at < len(ids)) & (ids[np.minimum(at, len(ids) - 1)] == latest.index.to_numpy(np.int64))
        at, latest = at[known], latest[known]
        for name in STATE[:4]:
            sent = latest[name].notna().to_numpy()
            out[name] = _assign(out[name], at[sent], latest[name].to_numpy()[sent])
        own = np.where(latest.own.notna(), latest.own, out.banned.to_numpy(float)[at])
        banned = (own == 1) | (latest.store.fillna(0).to_numpy() == 1)
        out["banned"] = _assign(out["banned"], at, banned)
        return out, exists

    def _start(self, snapshot: FeatureSnapshot, members: np.ndarray) -> dict[str, np.ndarray]:
        cols = snapshot.products.columns
        state = {name: cols[name][members].astype(np.float64) for name in STATE[:4]}
        state["own_ban"] = cols["banned"][members].astype(np.float64)
        state["store_ban"] = np.zeros(len(members))
        ids = snapshot.products.ids[members]
        has = np.isin(ids, self.originals.index.to_numpy())
        if has.any():
            first = self.originals.loc[ids[has]]
            for name in STATE[:4]:
                state[name][has] = first[name].to_numpy(np.float64)
            state["own_ban"][has] = first["banned"].to_numpy(np.float64)
        return state


class _Replay:
    """The state of the touched groups' members, moved change by change and recorded."""

    def __init__(self, group: np.ndarray, state: dict[str, np.ndarray], cols: dict[str, np.ndarray],
                 members: np.ndarray, clip: float) -> None:
        self.group, self.state, self.clip = group, state, clip
        self.outside = cols["outside_price"][members].astype(np.float64)
        self.category = cols["category_price"][members].astype(np.float64)
        self.advantage = cols["price_advantage"][members].astype(np.float64)
        self.records: list[tuple[np.ndarray, int, dict[str, np.ndarray]]] = []

    def apply(self, member: int, change: dict) -> None:
        kind = change["kind"]
        if kind == "upsert":
            for name in STATE[:4]:
                if not pd.isna(change[name]):
                    self.state[name][member] = float(change[name])
            if not pd.isna(change["banned"]):
                self.state["own_ban"][member] = float(change["banned"])
        elif kind in ("ban", "unban"):
            self.state["own_ban"][member] = float(kind == "ban")
        else:
            self.state["store_ban"][member] = float(kind == "store_ban")

    def reprice(self, changed: np.ndarray, at_ms: int) -> None:
        """Price advantage of every member of the groups ``changed`` touched, recorded at ``at_ms``."""
        rows = np.flatnonzero(np.isin(self.group, self.group[changed]))
        self.record(rows, at_ms)

    def record(self, rows: np.ndarray, at_ms: int) -> None:
        live = (self.state["own_ban"][rows] == 0) & (self.state["store_ban"][rows] == 0)
        adv = group_price_advantage(self.group[rows], self.state["price"][rows], live, self.outside[rows],
                                    self.category[rows], self.clip)
        # a listing scoring could not price (no reference at all) keeps the snapshot's value
        self.advantage[rows] = np.where(np.isnan(adv), self.advantage[rows], adv)
        values = {name: self.state[name][rows].copy() for name in STATE}
        values["price_advantage"] = self.advantage[rows].copy()
        self.records.append((rows, at_ms, values))

    def timeline(self, local: np.ndarray, snapshot: FeatureSnapshot) -> SnapshotTimeline:
        rows = np.concatenate([r for r, _, _ in self.records]) if self.records else np.zeros(0, np.int64)
        times = np.concatenate([np.full(len(r), t + 1, np.int64) for r, t, _ in self.records]
                               ) if self.records else np.zeros(0, np.int64)
        keys = (rows.astype(np.int64) << TIME_BITS) | times
        order = np.argsort(keys, kind="stable")
        names = (*STATE, "price_advantage")
        values = {n: np.concatenate([v[n] for _, _, v in self.records])[order] if self.records
                  else np.zeros(0) for n in names}
        return SnapshotTimeline(local, keys[order], values, snapshot)


@dataclass
class SnapshotTimeline:
    """Recorded states of one snapshot's touched products, looked up by (product, time)."""

    local: np.ndarray  # snapshot row -> member index, -1 untouched
    keys: np.ndarray  # sorted member << TIME_BITS | (change ms + 1)
    recorded: dict[str, np.ndarray]
    snapshot: FeatureSnapshot

    def values(self, product_ids: np.ndarray, at_ms: np.ndarray) -> dict[str, np.ndarray]:
        """Each (product, request time)'s :data:`AS_OF` values (NaN: the snapshot's stand)."""
        rows = self.snapshot.products.rows(np.asarray(product_ids, np.int64))
        if not len(self.keys):
            return {name: np.full(len(rows), np.nan) for name in AS_OF}
        member = np.where(rows >= 0, self.local[np.maximum(rows, 0)], -1)
        query = (np.maximum(member, 0) << TIME_BITS) | (np.asarray(at_ms, np.int64) + 1)
        pos = np.searchsorted(self.keys, query, side="right") - 1
        hit = (member >= 0) & (pos >= 0) & ((self.keys[np.maximum(pos, 0)] >> TIME_BITS) == member)
        pos = np.maximum(pos, 0)

        def at(name: str) -> np.ndarray:
            return np.where(hit, self.recorded[name][pos], np.nan)

        out = {name: at(name) for name in ("price", "list_price", "stock", "subsidy", "price_advantage")}
        out["banned"] = np.maximum(at("own_ban"), at("store_ban"))
        base_price = self.snapshot.products.take("price", rows)
        moved = np.log(np.maximum(out["price"], 0.01)) - np.log(np.maximum(base_price, 0.01))
        out["log_price_vs_category"] = self.snapshot.products.take("log_price_vs_category", rows) + moved
        return out


def _assign(column: pd.Series, rows: np.ndarray, values: np.ndarray) -> pd.Series:
    """``column`` with ``values`` at positional ``rows``, in the column's own dtype."""
    array = column.to_numpy().copy()
    array[rows] = np.asarray(values).astype(array.dtype)
    return pd.Series(array, index=column.index, name=column.name)


def _runs(times: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of equal times in sorted ``times``: one moment, one reprice."""
    if not len(times):
        return []
    starts = np.flatnonzero(np.r_[True, times[1:] != times[:-1]])
    return list(zip(starts.tolist(), [*starts[1:].tolist(), len(times)], strict=True))


def _epoch_ms(column: pd.Series) -> pd.Series:
    """Timestamps (tz-aware pandas, any unit) or epoch ms as epoch ms, -1 where null."""
    if pd.api.types.is_datetime64_any_dtype(column):
        ms = (column - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
        return ms.fillna(-1).astype(np.int64)
    return column.fillna(-1).astype(np.int64)
