"""A page being placed: the candidates in rank order and the slots filled so far."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.columns import product_column

T = TypeVar("T")


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
    memo: dict[Any, Any] = field(init=False, repr=False)  # see :meth:`once`

    def __post_init__(self) -> None:
        self.slots = np.full(self.size, -1, dtype=np.int64)
        self.propensity = np.ones(self.size)
        self.used = np.zeros(len(self.stores), dtype=bool)
        self.memo = {}

    def once(self, key: Any, build: Callable[[], T]) -> T:
        """``build()`` the first time ``key`` is asked for on this page, the same value after.
        Several selectors read the same candidate columns and caps; each was looked up once
        per selector (about 0.1 ms a column). Nothing invalidates it: a draft lives for one
        request, and the page is placed from one view of the catalog."""
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]

    def column(self, snapshot: FeatureSnapshot, cands: CandidateSet, column: str, missing: float = 0.0
               ) -> np.ndarray:
        """Each candidate's ``column`` of the product table (:func:`product_column`), read once per
        page (do not write into it)."""
        return self.once(("column", column, missing),
                         lambda: product_column(snapshot, cands, column, missing))

    def is_open(self, position: int) -> bool:
        """Whether 1-based ``position`` is on the page and still empty."""
        return 1 <= position <= self.size and self.slots[position - 1] < 0

    def put(self, index: int, row: int, propensity: float = 1.0) -> None:
        """Place candidate ``row`` at 0-based slot ``index``."""
        self.slots[index], self.used[row] = row, True
        self.propensity[index] = propensity
