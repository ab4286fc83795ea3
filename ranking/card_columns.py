"""What a page's cards read besides the ranker's columns: each card's title, store name and store
experience score, found per version of the tables instead of per page.

A card's title is the card catalog's (:class:`~ranking.catalog.CardCatalog`) for its product id,
its store name the catalog's for its ``store_id`` (read as ``product_column`` reads it: -1 for a
product the table lacks), its store score the store table's. A page looked each of them up by id
(two binary searches over the catalog and a store lookup, ~20 us a page); here every product
row's place in the catalog's ids is kept per version of the arrays it is found from
(:class:`~ranking.pipeline.derived_columns.DerivedColumn`: the live catalog swaps a changed array
for another object, and the card catalog is replaced whole), and a page takes its cards' places.
The values are then read from the catalog the page was given, so a catalog retitled over the same
ids reads its new titles. A page with a product the table does not know looks its titles up by id
as before (the catalog may still know it).
"""

from __future__ import annotations

import numpy as np

from ranking.catalog import CardCatalog
from ranking.features.snapshot import EntityTable, Located
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.derived_columns import DerivedColumn


def _places(ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each of ``ids``' place in the sorted ``keys`` (-1: not there), as ``CardCatalog._lookup``
    finds it."""
    if len(keys) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.minimum(np.maximum(keys.searchsorted(ids), 0), len(keys) - 1)
    return np.where(keys[pos] == ids, pos, -1).astype(np.int64)


def _title_places(product_ids: np.ndarray, catalog_ids: np.ndarray) -> np.ndarray:
    """Every product row's place among the catalog's product ids, then an unknown product's (-1;
    a page with one looks its titles up by id instead)."""
    return np.r_[_places(np.asarray(product_ids, np.int64), catalog_ids), -1]


def _store_name_places(store_ids: np.ndarray, catalog_store_ids: np.ndarray) -> np.ndarray:
    """Every product row's store's place among the catalog's store ids (its ``store_id`` read as
    ``product_column`` reads it: float64, then int), then an unknown product's (store -1)."""
    ids = np.r_[np.asarray(store_ids).astype(np.float64), -1].astype(np.int64)
    return _places(ids, catalog_store_ids)


TITLE_PLACES = DerivedColumn(_title_places)
STORE_NAME_PLACES = DerivedColumn(_store_name_places)


def _read(values: np.ndarray, places: np.ndarray) -> list:
    """``values`` at ``places``, ``""`` where a place is -1 (``CardCatalog._lookup``'s missing)."""
    if not len(values):
        return [""] * len(places)
    out = values[np.maximum(places, 0)]
    if len(places) and places.min() < 0:
        out = np.where(places >= 0, out, "")
    return out.tolist()


def card_titles(catalog: CardCatalog, products: EntityTable, page: CandidateSet,
                at: Located) -> list:
    """Each card's title (``catalog.titles_of(page.product_ids)``, as a list); ``at``: the page's
    located rows of ``products``."""
    if not at.all_known:  # a product the table lacks: the catalog may still know it
        return catalog.titles_of(page.product_ids).tolist()
    return _read(catalog.titles, TITLE_PLACES.candidates(products, page, products.ids, catalog.product_ids))


def card_store_names(catalog: CardCatalog, products: EntityTable, page: CandidateSet,
                     store_ids: np.ndarray) -> list:
    """Each card's store name (``catalog.store_names_of(store_ids)``, as a list); ``store_ids``:
    the cards' ``store_id`` (-1: unknown product)."""
    if "store_id" not in products.columns:
        return catalog.store_names_of(store_ids).tolist()
    places = STORE_NAME_PLACES.candidates(products, page, products.columns["store_id"], catalog.store_ids)
    return _read(catalog.store_names, places)
