"""Shopper loyalty: shoppers return to stores that served them well.

Each user has a latent **loyalty** ``l_u ~ Beta(2, 2)`` (``truth/users.parquet``). Each
(user, store) pair has a **bond** ``b in [-1, 1]``, 0 until the user's first order there.
An order's outcome moves it once the shopper knows it (``promised_days + 3`` days after
paying): a good one (not cancelled, delivered on time, not returned, not rated 1-2) by
``b += step (1 - b)``, a bad one by ``b -= step (1 + b)`` (``simulator.loyalty_bond_step``).
The purchase utility gains ``loyalty_bond_weight * l_u * b`` for the store's products
(:mod:`training.simulator.behaviour`).

Sessions run in chunks of at most ``loyalty_update_days`` in time order
(:mod:`training.simulator.run`); between chunks :meth:`Bonds.learn` applies every outcome
known by the next chunk's first session. Memory: one float per (user, store) pair that
ever ordered, a sorted key array.

The oracle (:class:`training.simulator.truth.Truth`) values a card *without* the bond: a
logged page's bond depends on the shopper's history up to that moment, which the truth
does not store per request; the bonds at the end of the simulation are written to
``truth/loyalty_bonds.parquet`` (user_id, store_id, bond) for analysis.
"""

from __future__ import annotations

import numpy as np

from ranking.settings import SimulatorSettings

DAY_MS = 86_400_000
JUDGED_AFTER_DAYS = 3  # a shopper judges an order this long after its promised delivery


class Bonds:
    """User-store bonds, and the order outcomes not yet known to the shopper."""

    def __init__(self, loyalty: np.ndarray, n_stores: int, weight: float, step: float) -> None:
        self.loyalty = loyalty
        self.n_stores = max(int(n_stores), 1)
        self.weight, self.step = weight, step
        self.keys = np.zeros(0, np.int64)  # sorted user * n_stores + store
        self.values = np.zeros(0, np.float64)
        self._pending_at = np.zeros(0, np.int64)
        self._pending_key = np.zeros(0, np.int64)
        self._pending_good = np.zeros(0, bool)

    def bond(self, users: np.ndarray, stores: np.ndarray) -> np.ndarray:
        """The bond of each (user, store) pair (0 where none)."""
        if not len(self.keys):
            return np.zeros(len(users))
        key = np.asarray(users, np.int64) * self.n_stores + np.asarray(stores, np.int64)
        pos = np.clip(np.searchsorted(self.keys, key), 0, len(self.keys) - 1)
        return np.where(self.keys[pos] == key, self.values[pos], 0.0)

    def utility(self, users: np.ndarray, stores: np.ndarray) -> np.ndarray:
        """The purchase-utility term ``weight * loyalty_u * bond``."""
        return self.weight * self.loyalty[users] * self.bond(users, stores)

    def record(self, users: np.ndarray, stores: np.ndarray, known_at: np.ndarray, good: np.ndarray) -> None:
        """Queue order outcomes the shopper will know at ``known_at`` (epoch ms)."""
        self._pending_key = np.concatenate([self._pending_key,
                                            np.asarray(users, np.int64) * self.n_stores + stores])
        self._pending_at = np.concatenate([self._pending_at, np.asarray(known_at, np.int64)])
        self._pending_good = np.concatenate([self._pending_good, np.asarray(good, bool)])

    def learn(self, now_ms: int) -> None:
        """Apply every queued outcome known before ``now_ms``, oldest first."""
        due = self._pending_at < now_ms
        if not due.any():
            return
        order = np.argsort(self._pending_at[due], kind="stable")
        keys, good = self._pending_key[due][order], self._pending_good[due][order]
        self._pending_at, self._pending_key = self._pending_at[~due], self._pending_key[~due]
        self._pending_good = self._pending_good[~due]
        all_keys = np.union1d(self.keys, keys)
        values = np.zeros(len(all_keys))
        values[np.searchsorted(all_keys, self.keys)] = self.values
        pos = np.searchsorted(all_keys, keys)
        rank = _rank_within(pos)
        for i in range(int(rank.max()) + 1):  # one outcome per pair per pass, in time order
            now = rank == i
            b, g = values[pos[now]], good[now]
            values[pos[now]] = np.where(g, b + self.step * (1 - b), b - self.step * (1 + b))
        self.keys, self.values = all_keys, values

    def rows(self) -> dict[str, np.ndarray]:
        """The bonds as columns: user_id, store_id, bond."""
        return {"user_id": self.keys // self.n_stores,
                "store_id": (self.keys % self.n_stores).astype(np.int32), "bond": self.values}


def build_bonds(world, settings: SimulatorSettings) -> Bonds:
    """Every user's latent loyalty (``Beta(2, 2)``, its own seed stream) and no bond yet."""
    loyalty = np.random.default_rng([settings.seed, 7]).beta(2, 2, size=len(world.user_region))
    return Bonds(loyalty, len(world.store_opened_ms), settings.loyalty_bond_weight,
                 settings.loyalty_bond_step)


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... for the successive members of each group value, in array order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    first = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(groups)), 0))
    rank = np.empty(len(groups), np.int64)
    rank[order] = np.arange(len(groups)) - start
    return rank


def order_outcomes(orders: dict[str, np.ndarray], after: dict[str, dict[str, np.ndarray]],
                   promised_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(known_at, good) of a chunk's orders from their fulfilment (:func:`fulfil`'s tables)."""
    ids = orders["order_id"]
    ship = after["shipments"]
    deadline = orders["timestamp"] + promised_days * DAY_MS
    delivered_at = np.full(len(ids), -1, np.int64)
    delivered_at[np.searchsorted(ids, ship["order_id"])] = ship["delivered_at"]
    on_time = (delivered_at >= 0) & (delivered_at <= deadline)
    returned = np.isin(ids, after["returns"]["order_id"])
    bad_review = np.isin(ids, after["reviews"]["order_id"][after["reviews"]["rating"] <= 2])
    good = ~orders["cancelled"] & on_time & ~returned & ~bad_review
    return deadline + JUDGED_AFTER_DAYS * DAY_MS, good
