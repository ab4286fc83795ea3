"""The catalog changes so far: each product's latest values, the banned stores, the added stores.

:class:`CatalogState` folds the rows of the catalog change tables
(:mod:`ranking.catalog_changes`) in log order: a product upsert merges its fields into the
product's latest values, a ban sets or clears ``banned`` of its products and adds or removes
its stores from the banned stores, a store row is kept by id. Folding a row twice gives the
same state (every value is absolute), so a feed that delivers at least once is safe.
:class:`CatalogView` answers the checks' questions (:class:`ranking.catalog_changes.KnownCatalog`)
from a bundle's snapshot plus this state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ranking.catalog_changes import BANS, CHANGED_KEY, PRODUCT_CHANGES, STORE_CHANGES
from ranking.contracts.tables import PRODUCTS

REQUIRED = tuple(c.name for c in PRODUCTS.columns)


@dataclass
class Folded:
    """What one fold touched: the products whose values changed, whether store bans or stores did."""

    products: set[int] = field(default_factory=set)
    store_bans: set[int] = field(default_factory=set)
    stores: bool = False

    def __bool__(self) -> bool:
        return bool(self.products or self.store_bans or self.stores)


@dataclass
class CatalogState:
    """Every product's latest changed values, the banned stores (id -> reason), the added stores."""

    products: dict[int, dict] = field(default_factory=dict)
    banned_stores: dict[int, str] = field(default_factory=dict)
    stores: dict[int, dict] = field(default_factory=dict)
    rows_folded: int = 0

    def fold(self, rows: list[tuple[str, dict]]) -> Folded:
        """Fold ``(table, row)`` pairs in order; say what changed."""
        done = Folded()
        for table, row in rows:
            self.rows_folded += 1
            if table == PRODUCT_CHANGES:
                pid = int(row["product_id"])
                values = self.products.setdefault(pid, {})
                values.update({k: v for k, v in row.items() if not k.startswith("_") and k != CHANGED_KEY})
                done.products.add(pid)
            elif table == BANS:
                for pid in row.get("product_ids", []):
                    self.products.setdefault(int(pid), {"product_id": int(pid)})["banned"] = not row["unban"]
                    done.products.add(int(pid))
                for sid in row.get("store_ids", []):
                    if row["unban"]:
                        self.banned_stores.pop(int(sid), None)
                    else:
                        self.banned_stores[int(sid)] = str(row.get("reason", ""))
                    done.store_bans.add(int(sid))
            elif table == STORE_CHANGES:
                self.stores[int(row["store_id"])] = {k: v for k, v in row.items() if not k.startswith("_")}
                done.stores = True
        return done

    def complete(self, product_id: int) -> bool:
        """Whether the changes alone describe the product whole (a new product's row)."""
        values = self.products.get(product_id, {})
        return all(name in values for name in REQUIRED)

    def banned_store_ids(self) -> np.ndarray:
        return np.fromiter(self.banned_stores, np.int64, len(self.banned_stores))


class CatalogView:
    """The served catalog as the checks see it: a snapshot (``snapshot_of()``, read at each
    question: the served bundle may change) plus the changes folded so far."""

    def __init__(self, snapshot_of: Callable[[], object | None], state: CatalogState) -> None:
        self.snapshot_of = snapshot_of
        self.state = state

    def store_of(self, product_id: int) -> int | None:
        snap = self.snapshot_of()
        if snap is not None:
            row = int(snap.products.rows(np.array([product_id]))[0])
            if row >= 0:
                return int(snap.products.columns["store_id"][row])
        values = self.state.products.get(product_id)
        return int(values["store_id"]) if values and self.state.complete(product_id) else None

    def has_store(self, store_id: int) -> bool:
        snap = self.snapshot_of()
        if snap is not None and snap.stores.rows(np.array([store_id]))[0] >= 0:
            return True
        return store_id in self.state.stores

    def has_leaf(self, category_id: int) -> bool:
        snap = self.snapshot_of()
        return snap is not None and bool(snap.leaf_of_category(np.array([category_id]))[0] >= 0)

    def has_brand(self, brand_id: int) -> bool:
        snap = self.snapshot_of()
        if snap is None:
            return False
        brands = snap.products.columns.get("brand_id")
        if brands is not None and bool(np.any(brands == brand_id)):
            return True
        return brand_id in snap.text.brand_names
