"""Training's live features: the mall's logs replayed through a live state, in time order,
each logged request featurised from the state as it stood just before it.

:class:`EventStream` holds the shopper events (impressions, clicks, carts, orders) sorted by
time and applies them to a :class:`~ranking.live.state.LiveState` up to a moment, in
time-ordered runs (a run of impressions, then the interactions after them, ...; at equal
times a card's impression comes before its click; one batch per page of impressions and per
run of interactions between pages, whichever requests are featurised, so a sampled build
sees the values the full one does). :func:`live_feature_rows` walks the
requests of the cards to featurise in time order; at each request's timestamp (every event
strictly before it applied, none at or after) it reads the shopper's view and the cards'
live counters and calls :func:`ranking.live.features.live_feature_columns`, the function
the service's hydrate calls, so a live feature has one definition.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from tqdm import tqdm

from ranking.live.batch import KIND_CODE, EventBatch, concat_batches, to_live_seconds
from ranking.live.features import LIVE_COLUMNS, leaf_lookup, live_feature_columns
from ranking.live.state import LiveState
from ranking.settings import LiveSettings, Settings
from training.data.mall_data import MallTables

INTERACTIONS = ("clicks", "carts", "orders")


def frame_batch(table: str, df: pd.DataFrame) -> EventBatch:
    """A validated contract table's rows as the live state's batch (no per-row Python: the
    contracts already checked them), in the frame's order."""
    n = len(df)

    def ints(name: str) -> np.ndarray:
        if name not in df:
            return np.full(n, -1, np.int64)
        return np.nan_to_num(df[name].to_numpy(dtype=np.float64), nan=-1).astype(np.int64)

    gmv = np.zeros(n, np.float32)
    if table == "orders":
        gmv = (df.price_paid.to_numpy(np.float64) * df.quantity.to_numpy(np.float64)).astype(np.float32)
    cancelled = df.cancelled.to_numpy(bool) if "cancelled" in df else np.zeros(n, bool)
    return EventBatch(table=table, kind=np.full(n, KIND_CODE[table], np.int8),
                      time=to_live_seconds(df.timestamp.to_numpy(np.int64)), user_id=ints("user_id"),
                      session_id=[None] * n, product_id=ints("product_id"), request_id=ints("request_id"),
                      query_id=ints("query_id"), store_id=ints("store_id").astype(np.int32), gmv=gmv,
                      cancelled=cancelled)


def take(batch: EventBatch, rows: np.ndarray) -> EventBatch:
    """The batch's ``rows`` (indices)."""
    return EventBatch(table=batch.table, kind=batch.kind[rows], time=batch.time[rows],
                      user_id=batch.user_id[rows], session_id=[batch.session_id[i] for i in rows],
                      product_id=batch.product_id[rows], request_id=batch.request_id[rows],
                      query_id=batch.query_id[rows], store_id=batch.store_id[rows], gmv=batch.gmv[rows],
                      cancelled=batch.cancelled[rows])


class EventStream:
    """The shopper events of a mall in time order, applied to a state up to a moment."""

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        imp = tables["impressions"]
        acts = [frame_batch(t, tables[t]) for t in INTERACTIONS if t in tables and len(tables[t])]
        act_ms = np.concatenate([tables[t].timestamp.to_numpy(np.int64) for t in INTERACTIONS
                                 if t in tables and len(tables[t])] or [np.zeros(0, np.int64)])
        self.batches = (frame_batch("impressions", imp),
                        concat_batches(acts) if acts else frame_batch("clicks", imp.iloc[:0]))
        ms = np.concatenate([imp.timestamp.to_numpy(np.int64), act_ms])
        source = np.r_[np.zeros(len(imp), np.int8), np.ones(len(act_ms), np.int8)]
        index = np.r_[np.arange(len(imp)), np.arange(len(act_ms))]
        order = np.lexsort((index, source, ms))  # time, a card's impression before its click
        self.ms, self.source, self.index = ms[order], source[order], index[order]
        # the one partition into batches, whatever is featurised: a new batch at each change of
        # kind and at each page of impressions (a batch counts its repeats of a card in one
        # window, so other boundaries would change the counts a sampled build sees)
        new = (np.diff(self.source) != 0) | ((self.source[1:] == 0) & (np.diff(self.ms) != 0))
        self.starts = np.r_[0, np.flatnonzero(new) + 1, len(ms)]
        self.done = 0

    def apply_until(self, state: LiveState, before_ms: int) -> int:
        """Apply every event not yet applied whose time is strictly before ``before_ms``."""
        end = int(np.searchsorted(self.ms, before_ms, side="left"))
        if end <= self.done:
            return 0
        inner = self.starts[(self.starts > self.done) & (self.starts < end)]
        for lo, hi in itertools.pairwise(np.r_[self.done, inner, end]):
            state.apply_batch(take(self.batches[int(self.source[lo])], self.index[lo:hi]))
        applied, self.done = end - self.done, end
        return applied


def live_feature_rows(mall: MallTables, imp: pd.DataFrame, rows: np.ndarray, settings: Settings,
                      progress: bool = False) -> np.ndarray:
    """The live columns (:data:`~ranking.live.features.LIVE_COLUMNS`, float32) of the cards
    ``rows`` of ``imp``, aligned with ``rows``: each request from a state holding every event
    strictly before its timestamp."""
    out = np.full((len(rows), len(LIVE_COLUMNS)), np.nan, np.float32)
    if not len(rows):
        return out
    sub = imp.iloc[rows]
    request = sub.request_id.to_numpy()
    ts = sub.timestamp.to_numpy(np.int64)
    order = np.lexsort((np.arange(len(rows)), request, ts))  # requests by time, cards together
    starts = np.r_[0, np.flatnonzero(np.diff(request[order]) | np.diff(ts[order])) + 1, len(order)]
    products = mall["products"].sort_values("product_id")
    known = (products.product_id.to_numpy(np.int64), products.category_id.to_numpy(np.int64))
    state, stream = LiveState(settings.live), EventStream(mall.tables)
    users, pid = sub.user_id.to_numpy(np.int64), sub.product_id.to_numpy(np.int64)
    for lo, hi in tqdm(itertools.pairwise(starts), total=len(starts) - 1,
                       desc="replaying live features", unit="request", disable=not progress):
        cards = order[lo:hi]
        out[cards] = request_columns(state, stream, int(ts[cards[0]]), int(users[cards[0]]), pid[cards],
                                     known, settings.live)
    return out


def request_columns(state: LiveState, stream: EventStream, at_ms: int, user_id: int, cards: np.ndarray,
                    known: tuple[np.ndarray, np.ndarray], live: LiveSettings) -> np.ndarray:
    """One request's live columns (cards x columns) after every event before ``at_ms``."""
    stream.apply_until(state, at_ms)
    view = state.shopper_view(user_id if user_id >= 0 else None, None, at_ms)
    signals = state.product_signals(cards, at_ms)
    cols = live_feature_columns(view, signals, cards, leaf_lookup(*known, cards),
                                leaf_lookup(*known, view.items), at_ms, live)
    return np.stack([cols[name] for name in LIVE_COLUMNS], axis=1)
