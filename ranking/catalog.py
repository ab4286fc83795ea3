"""What a product card shows that the ranker does not need: titles and store names.

Kept in the bundle as ``catalog/products.parquet`` (product_id, title) and
``catalog/stores.parquet`` (store_id, name), written by training from the catalog it
trained on, read here into numpy arrays sorted by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

CATALOG_PART = "catalog"


@dataclass
class CardCatalog:
    product_ids: np.ndarray
    titles: np.ndarray
    store_ids: np.ndarray
    store_names: np.ndarray

    @staticmethod
    def _lookup(ids: np.ndarray, keys: np.ndarray, values: np.ndarray, missing: str) -> np.ndarray:
        if len(keys) == 0:
            return np.full(len(ids), missing, dtype=object)
        # np.minimum/np.maximum, not np.clip: the same positions without its wrapper (~8 us a call,
        # two a page)
        pos = np.minimum(np.maximum(keys.searchsorted(ids), 0), len(keys) - 1)
        return np.where(keys[pos] == ids, values[pos], missing)

    def titles_of(self, product_ids: np.ndarray) -> np.ndarray:
        return self._lookup(np.asarray(product_ids, np.int64), self.product_ids, self.titles, "")

    def store_names_of(self, store_ids: np.ndarray) -> np.ndarray:
        return self._lookup(np.asarray(store_ids, np.int64), self.store_ids, self.store_names, "")

    @classmethod
    def from_frames(cls, products: pd.DataFrame, stores: pd.DataFrame) -> CardCatalog:
        p = products.sort_values("product_id")
        s = stores.sort_values("store_id")
        return cls(p.product_id.to_numpy(np.int64), p.title.to_numpy(object),
                   s.store_id.to_numpy(np.int64), s.name.to_numpy(object))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"product_id": self.product_ids, "title": self.titles}).to_parquet(
            folder / "products.parquet", index=False)
        pd.DataFrame({"store_id": self.store_ids, "name": self.store_names}).to_parquet(
            folder / "stores.parquet", index=False)

    @classmethod
    def load(cls, folder: str | Path) -> CardCatalog:
        folder = Path(folder)
        p = pq.read_table(folder / "products.parquet").to_pandas()
        s = pq.read_table(folder / "stores.parquet").to_pandas()
        return cls.from_frames(p, s)
