"""Training's live replay in rounds (training/learning/live_replay.py) gives, value by value,
what the time-ordered replay gives: every batch of the stream applied in time order to one
LiveState and each request read there through the service's own calls (``shopper_view``,
``product_signals``, ``live_feature_columns``), the replay training ran before the rounds."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.live.features import LIVE_COLUMNS, leaf_lookup, live_feature_columns
from ranking.live.state import LiveState
from ranking.settings import LiveSettings, Settings
from training.data.mall_data import MallTables, load_mall
from training.learning.live_replay import EventStream, live_feature_rows

DAY = 86_400_000


def time_ordered_rows(mall: MallTables, imp: pd.DataFrame, rows: np.ndarray, settings: Settings
                      ) -> np.ndarray:
    """The reference: each request in time order, after every event strictly before it."""
    out = np.full((len(rows), len(LIVE_COLUMNS)), np.nan, np.float32)
    sub = imp.iloc[rows]
    request, ts = sub.request_id.to_numpy(), sub.timestamp.to_numpy(np.int64)
    users = np.nan_to_num(sub.user_id.to_numpy(np.float64), nan=-1).astype(np.int64)
    pid = sub.product_id.to_numpy(np.int64)
    order = np.lexsort((np.arange(len(rows)), request, ts))
    starts = np.r_[0, np.flatnonzero(np.diff(request[order]) | np.diff(ts[order])) + 1, len(order)]
    products = mall["products"].sort_values("product_id")
    known = (products.product_id.to_numpy(np.int64), products.category_id.to_numpy(np.int64))
    state, stream = LiveState(settings.live), EventStream(mall.tables)
    for lo, hi in itertools.pairwise(starts):
        cards = order[lo:hi]
        at, user = int(ts[cards[0]]), int(users[cards[0]])
        stream.apply_until(state, at)
        view = state.shopper_view(user if user >= 0 else None, None, at)
        cols = live_feature_columns(view, state.product_signals(pid[cards], at), pid[cards],
                                    leaf_lookup(*known, pid[cards]), leaf_lookup(*known, view.items), at,
                                    settings.live)
        out[cards] = np.stack([cols[name] for name in LIVE_COLUMNS], axis=1)
    return out


@pytest.fixture(scope="module")
def first_days(small_mall: Path) -> MallTables:
    """The small mall's first three days (every table cut at the same moment)."""
    mall = load_mall(small_mall)
    cut = mall.first_ms + 3 * DAY
    return MallTables(mall.data_dir, {name: df[df.timestamp < cut] if "timestamp" in df else df
                                      for name, df in mall.tables.items()})


def test_the_replay_in_rounds_gives_the_time_ordered_replays_values(first_days: MallTables) -> None:
    imp, settings = first_days["impressions"], Settings()
    requests = np.unique(imp.request_id.to_numpy())
    read = requests[np.arange(len(requests)) % 3 != 0]  # unread requests between the read ones
    after_a_day = imp.timestamp > first_days.first_ms + DAY
    rows = np.flatnonzero(np.isin(imp.request_id.to_numpy(), read) & after_a_day)
    fast = live_feature_rows(first_days, imp, rows, settings)
    slow = time_ordered_rows(first_days, imp, rows, settings)
    np.testing.assert_array_equal(fast, slow)  # exact, NaN where NaN
    for j, name in enumerate(LIVE_COLUMNS):  # every feature was exercised
        assert (np.nan_to_num(slow[:, j]) != 0).any(), name
    assert len(np.unique(imp.user_id.to_numpy()[rows])) > 50


def test_shoppers_interleaved_at_equal_times_and_without_a_user_replay_alike() -> None:
    t0, live = 1_785_513_600_000, LiveSettings(ignored_items=3, ignore_window_hours=0.5)
    pages, acts = [], []
    for k in range(40):  # pages of 5 cards for 3 ignored slots, two shoppers at the same moment
        at = t0 + (k // 2) * 60_000
        user = [1, 2, np.nan, 3][k % 4]
        pages += [{"request_id": k, "timestamp": at, "user_id": user, "product_id": (k + i) % 9,
                   "query_id": k if k % 5 == 0 else np.nan, "position": i + 1} for i in range(5)]
        acts.append({"request_id": k, "timestamp": at + (0 if k % 6 == 0 else 7000), "user_id": user,
                     "product_id": k % 9, "kind": ("clicks", "carts", "orders")[k % 3]})
    act = pd.DataFrame(acts)
    leaves = [100 + p % 3 for p in range(9)]
    tables = {"impressions": pd.DataFrame(pages),
              "products": pd.DataFrame({"product_id": range(9), "category_id": leaves})}
    for kind in ("clicks", "carts", "orders"):
        tables[kind] = act[act.kind == kind].drop(columns="kind").reset_index(drop=True)
    tables["orders"] = tables["orders"].assign(store_id=5, price_paid=3.0, quantity=1,
                                               cancelled=np.arange(len(tables["orders"])) % 2 == 0)
    mall, settings = MallTables(Path("."), tables), Settings(live=live)
    imp = tables["impressions"]
    rows = np.flatnonzero(imp.request_id.to_numpy() % 4 != 1)
    np.testing.assert_array_equal(live_feature_rows(mall, imp, rows, settings),
                                  time_ordered_rows(mall, imp, rows, settings))
