"""A page being placed: the candidates in rank order and the slots filled so far."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PageDraft:
    """``order`` is candidate rows by score + adjustments (ties by product id), ``stores``
    each candidate's store; ``slots`` holds the candidate row of each slot (-1 empty),
    ``propensity`` the probability the policy placed that card there (1 unless drawn)."""

    order: np.ndarray
    stores: np.ndarray
    size: int
    slots: np.ndarray = field(init=False)
    propensity: np.ndarray = field(init=False)
    used: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.slots = np.full(self.size, -1, dtype=np.int64)
        self.propensity = np.ones(self.size)
        self.used = np.zeros(len(self.stores), dtype=bool)

    def is_open(self, position: int) -> bool:
        """Whether 1-based ``position`` is on the page and still empty."""
        return 1 <= position <= self.size and self.slots[position - 1] < 0

    def put(self, index: int, row: int, propensity: float = 1.0) -> None:
        """Place candidate ``row`` at 0-based slot ``index``."""
        self.slots[index], self.used[row] = row, True
        self.propensity[index] = propensity
