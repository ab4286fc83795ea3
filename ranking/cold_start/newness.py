"""Who is new: a product listed less than ``cold_start.new_product_days`` before the request,
or any product of a store opened less than ``cold_start.new_store_days`` before it.

``listed_at`` is the product table's listing time (epoch ms; a product added live through the
catalog API carries its change time, :mod:`ranking.live.new_product_listing`). A store's
``opened_at`` is in bundles built since cold start; an older bundle has only the ``new_store``
flag (opened in the 30 days before the snapshot), which is used instead.
"""

from __future__ import annotations

import numpy as np

from ranking.cold_start.posterior import nan_to
from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.settings import ColdStartSettings

DAY_MS = 86_400_000


def _within(stamp: np.ndarray, now_ms: int, days: int) -> np.ndarray:
    """Whether each time (NaN: unknown) lies in the ``days`` before ``now_ms`` (not after it)."""
    ok = ~np.isnan(stamp)
    s = np.where(ok, stamp, 0.0)
    return ok & (s > now_ms - days * DAY_MS) & (s <= now_ms)


def store_facts(products: EntityTable, stores: EntityTable, rows: np.ndarray
                ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(each product row's store's ``opened_at``, or None when the store table has none; else its
    store's ``new_store`` flag, or None) for ``rows`` of ``products`` (-1: unknown, no store)."""
    store_ids = products.take("store_id", rows, missing=-1)
    s_rows = stores.rows(nan_to(store_ids, nan=-1).astype(np.int64))
    if "opened_at" in stores.columns:
        return stores.take("opened_at", s_rows), None
    if "new_store" in stores.columns:
        return None, stores.take("new_store", s_rows, missing=0.0) > 0
    return None, None


def newness(listed: np.ndarray, opened: np.ndarray | None, flag: np.ndarray | None, now_ms: int,
            settings: ColdStartSettings) -> tuple[np.ndarray, np.ndarray]:
    """(new product, new store) from the listing times and :func:`store_facts`."""
    new_product = _within(listed, now_ms, settings.new_product_days)
    if opened is not None:
        return new_product, _within(opened, now_ms, settings.new_store_days)
    return new_product, flag if flag is not None else np.zeros(len(listed), dtype=bool)


def listed_at(products: EntityTable, rows: np.ndarray) -> np.ndarray:
    """Each product row's listing time (NaN: unknown, or a table without them)."""
    return products.take("listed_at", rows) if "listed_at" in products.columns \
        else np.full(len(rows), np.nan)


def new_products(snapshot: FeatureSnapshot, product_ids: np.ndarray, now_ms: int,
                 settings: ColdStartSettings, rows: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(new product, new store) per product id: listed within the product window, and of a
    store opened within the store window. A product is in cold start when either holds.
    ``rows``: the products' rows of the product table when the caller has them."""
    products = snapshot.products
    rows = products.rows(np.asarray(product_ids, np.int64)) if rows is None else rows
    return newness(listed_at(products, rows), *store_facts(products, snapshot.stores, rows), now_ms, settings)
