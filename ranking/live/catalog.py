"""The live state's catalog: product and store ids as dense rows, and what a product is.

Every per-product array of the live state (counters, co-visitation) is indexed by a
product's *row*; :class:`IdRows` hands rows out in arrival order (int64 id -> int32 row).
:class:`LiveCatalog` knows each product's leaf, store and brand (from ``products`` rows, the
catalog change log, or the store an order names) and which leaves are consumable (from
``categories`` rows): a bought non-consumable does not come back, a consumable may.
Unknown attributes are -1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np

# IdRows keeps a by-id array while every id is below max(DENSE_FLOOR, DENSE_PER_ROW x its rows)
DENSE_FLOOR, DENSE_PER_ROW = 1 << 21, 8


class IdRows:
    """Int64 ids to dense int32 rows, handed out in arrival order.

    While every id seen is a small non-negative integer (below ``max(DENSE_FLOOR, DENSE_PER_ROW x
    rows)``, as a catalog numbered from a sequence is), the rows are also kept in an array indexed
    by id, so :meth:`find` is one take instead of a dict lookup per id (a page's ~500 candidates:
    ~30 us of a live page's ~130 us of counters); an id beyond that turns the array off for good.
    """

    def __init__(self) -> None:
        self._rows: dict[int, int] = {}
        self._ids = np.zeros(0, np.int64)
        # row of each id below len - 1 (-1: never seen), then -1 for every id past it; None: off
        self._by_id: np.ndarray | None = np.full(1, -1, np.int32)

    @property
    def ids(self) -> np.ndarray:
        """The id of every row."""
        return self._ids[: len(self._rows)]

    def __len__(self) -> int:
        return len(self._rows)

    def find(self, ids: np.ndarray) -> np.ndarray:
        """Rows of ``ids``; -1 for an id never seen."""
        ids = np.asarray(ids, np.int64)
        by_id = self._by_id
        if by_id is not None:  # a negative id is past the end as uint64: the last slot's -1
            return by_id[np.minimum(ids.view(np.uint64), len(by_id) - 1)]
        listed = ids.tolist()
        return np.fromiter(map(self._rows.get, listed, repeat(-1, len(listed))), np.int32, len(listed))

    def add(self, ids: np.ndarray) -> np.ndarray:
        """Rows of ``ids``, new ids given the next free rows."""
        rows = self.find(ids)
        missing = rows < 0
        if missing.any():
            new = list(dict.fromkeys(np.asarray(ids, np.int64)[missing].tolist()))
            start = len(self._rows)
            self._rows.update(zip(new, range(start, start + len(new)), strict=True))
            self._ids = grown(self._ids, len(self._rows), -1)
            self._ids[start:len(self._rows)] = new
            self._index(np.asarray(new, np.int64), start)
            rows[missing] = self.find(np.asarray(ids, np.int64)[missing])
        return rows

    def _index(self, new: np.ndarray, start: int) -> None:
        """Rows ``start``... of ids ``new`` in the by-id array (grown, or turned off, as needed)."""
        by_id = self._by_id
        if by_id is None:
            return
        low, high = int(new.min()), int(new.max())
        if low < 0 or high >= max(DENSE_FLOOR, DENSE_PER_ROW * len(self._rows)):
            self._by_id = None
            return
        if high >= len(by_id) - 1:
            wider = np.full(max(high + 2, 2 * len(by_id)), -1, np.int32)
            wider[: len(by_id) - 1] = by_id[:-1]
            by_id = wider
        by_id[new] = np.arange(start, start + len(new), dtype=np.int32)
        self._by_id = by_id

    def nbytes(self) -> int:
        """Approximate memory: the dict's table and its int objects, plus the id array."""
        import sys

        dense = 0 if self._by_id is None else self._by_id.nbytes
        return sys.getsizeof(self._rows) + 56 * len(self._rows) + self._ids.nbytes + dense  # 2 ints an entry


def grown(array: np.ndarray, rows: int, fill: float | int) -> np.ndarray:
    """``array`` with at least ``rows`` rows (doubling), new rows set to ``fill``."""
    if len(array) >= rows:
        return array
    out = np.full((max(rows, 2 * len(array), 16), *array.shape[1:]), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


class LiveCatalog:
    """Product and store rows, and each product's leaf, store and brand."""

    def __init__(self) -> None:
        self.products = IdRows()
        self.stores = IdRows()
        self.leaf = np.zeros(0, np.int32)
        self.store = np.zeros(0, np.int32)
        self.brand = np.zeros(0, np.int32)
        self.consumable_leaves = np.zeros(0, np.int32)

    def product_rows(self, product_ids: np.ndarray) -> np.ndarray:
        rows = self.products.add(product_ids)
        n = len(self.products)
        self.leaf, self.store, self.brand = (grown(a, n, -1) for a in (self.leaf, self.store, self.brand))
        return rows

    def describe(self, product_ids: np.ndarray, leaf: np.ndarray | None = None,
                 store: np.ndarray | None = None, brand: np.ndarray | None = None) -> None:
        """Set what is known of products (ids -> leaf category, store, brand); -1 keeps the old value."""
        rows = self.product_rows(np.asarray(product_ids, np.int64))
        for target, values in ((self.leaf, leaf), (self.store, store), (self.brand, brand)):
            if values is not None:
                values = np.asarray(values, np.int32)
                known = values >= 0
                target[rows[known]] = values[known]

    def apply_products(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """``products`` rows (contract shape) from the catalog change log."""
        def col(name: str) -> np.ndarray:
            return np.array([-1 if r.get(name) is None else int(r[name]) for r in rows], np.int64)
        self.describe(col("product_id"), col("category_id"), col("store_id"), col("brand_id"))

    def apply_categories(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """``categories`` rows: which leaves are consumable (bought again and again)."""
        now = {int(r["category_id"]): bool(r.get("consumable")) for r in rows}
        keep = [c for c in self.consumable_leaves.tolist() if now.get(c, True)]
        self.consumable_leaves = np.unique(np.array(keep + [c for c, yes in now.items() if yes], np.int32))

    def store_rows_of(self, product_rows: np.ndarray, named: np.ndarray | None = None) -> np.ndarray:
        """Store rows of products (the store a row names first, else the catalog's); -1 unknown."""
        store = self.store[product_rows].copy()
        if named is not None:
            store = np.where(named >= 0, named, store)
        out = np.full(len(store), -1, np.int32)
        known = store >= 0
        if known.any():
            out[known] = self.stores.add(store[known].astype(np.int64))
        return out

    def nbytes(self) -> int:
        arrays = (self.leaf, self.store, self.brand, self.consumable_leaves)
        return self.products.nbytes() + self.stores.nbytes() + sum(a.nbytes for a in arrays)
