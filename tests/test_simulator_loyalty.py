"""Loyalty in the simulator: bonds learn from order outcomes once known, and loyal shoppers
come back to the stores that served them well."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ranking.settings import MallSettings, SimulatorSettings
from training.simulator import simulate
from training.simulator.loyalty import Bonds
from training.simulator.run import chunk_bounds

DAY = 86_400_000


def test_a_good_order_raises_the_bond_a_bad_one_lowers_it_once_known():
    bonds = Bonds(np.array([1.0, 0.5]), n_stores=3, weight=2.0, step=0.5)
    bonds.record(np.array([0, 0, 1]), np.array([1, 2, 1]), np.array([5 * DAY, 5 * DAY, 9 * DAY]),
                 np.array([True, False, True]))
    bonds.learn(4 * DAY)
    assert bonds.bond(np.array([0, 0]), np.array([1, 2])).tolist() == [0.0, 0.0]  # not known yet
    bonds.learn(6 * DAY)
    assert bonds.bond(np.array([0, 0, 1]), np.array([1, 2, 1])).tolist() == [0.5, -0.5, 0.0]
    assert bonds.utility(np.array([0]), np.array([1])).tolist() == [1.0]  # 2.0 * loyalty 1 * 0.5


def test_bonds_stay_within_minus_one_and_one_and_apply_in_time_order():
    bonds = Bonds(np.ones(1), n_stores=1, weight=1.0, step=0.5)
    bonds.record(np.zeros(4, np.int64), np.zeros(4, np.int64), np.array([4, 1, 2, 3]) * DAY,
                 np.array([False, True, True, True]))
    bonds.learn(10 * DAY)
    # good, good, good: 0.5, 0.75, 0.875; then the bad one last: 0.875 - 0.5 * 1.875
    assert bonds.bond(np.zeros(1, np.int64), np.zeros(1, np.int64))[0] == 0.875 - 0.5 * 1.875
    assert np.all(np.abs(bonds.values) <= 1)


def test_chunks_are_cut_by_sessions_and_by_days():
    ts = np.arange(0, 10 * DAY, DAY // 2)  # 20 sessions, two a day
    bounds = chunk_bounds(ts, max_sessions=3, max_days=2)
    assert bounds[0] == (0, 3) and all(hi - lo <= 3 for lo, hi in bounds)
    assert [b for b in chunk_bounds(ts, 100, 2)] == [(i, i + 4) for i in range(0, 20, 4)]


def _repeat_orders(folder: Path) -> int:
    """Orders a shopper placed at a store on a later day than their first there."""
    orders = pd.read_parquet(folder / "orders.parquet")
    days = orders.assign(day=orders.timestamp.dt.floor("D")).groupby(["store_id", "user_id"]).day.nunique()
    return int((days - 1).sum())


def test_loyal_shoppers_return_to_stores_more_than_without_loyalty(small_mall: Path, tmp_path: Path):
    simulate(tmp_path, SimulatorSettings(scale="small", seed=7, loyalty_bond_weight=0.0), MallSettings(),
             progress=False)
    # small mall, seed 7: 4,672 repeat orders, 4,585 without loyalty (seed 8: 4,358 and 4,226). The
    # share of buyer-store pairs that came back does not separate them (0.388 both): loyalty adds
    # orders at the stores that served well, and new pairs with them
    assert _repeat_orders(small_mall) > 1.01 * _repeat_orders(tmp_path)
    bonds = pd.read_parquet(small_mall / "truth" / "loyalty_bonds.parquet")
    assert len(bonds) > 0 and bonds.bond.between(-1, 1).all() and (bonds.bond > 0).mean() > 0.5
