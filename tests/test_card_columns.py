"""A card's title and store name, read through places kept per version of the ids: the catalog's
lookup by id, also after the catalog or the product table is replaced, and for unknown products."""

from __future__ import annotations

import numpy as np

from ranking.card_columns import STORE_NAME_PLACES, TITLE_PLACES, card_store_names, card_titles
from ranking.catalog import CardCatalog
from ranking.features.snapshot import EntityTable
from ranking.pipeline.candidates import CandidateSet


def _tables(n: int = 8):
    ids = np.arange(100, 100 + n, dtype=np.int64)
    products = EntityTable(ids, {"store_id": (7 + np.arange(n) % 3).astype(np.float32)})
    catalog = CardCatalog(ids[:-1].copy(),  # the catalog lacks the last product
                          np.array([f"t{i}" for i in ids[:-1]], dtype=object),
                          np.array([7, 8], dtype=np.int64), np.array(["s7", "s8"], dtype=object))
    return products, catalog


def _read(catalog: CardCatalog, products: EntityTable, ids: np.ndarray) -> tuple[list, list]:
    page = CandidateSet(np.asarray(ids, dtype=np.int64))
    at = page.rows_in(products)
    store_ids = products.take_located("store_id", at, -1).astype(np.int64)
    return card_titles(catalog, products, page, at), card_store_names(catalog, products, page, store_ids)


def _by_id(catalog: CardCatalog, products: EntityTable, ids: np.ndarray) -> tuple[list, list]:
    page = CandidateSet(np.asarray(ids, dtype=np.int64))
    store_ids = products.take_located("store_id", page.rows_in(products), -1).astype(np.int64)
    return catalog.titles_of(page.product_ids).tolist(), catalog.store_names_of(store_ids).tolist()


def test_titles_and_store_names_are_the_catalogs_by_id():
    products, catalog = _tables()
    for ids in ([103, 100, 107, 101], [107], [], [105, 999, 100]):  # 999: unknown to the table
        assert _read(catalog, products, np.array(ids)) == _by_id(catalog, products, np.array(ids))


def test_an_unknown_product_the_catalog_knows_keeps_its_title():
    products, catalog = _tables()
    wider = CardCatalog(np.r_[catalog.product_ids, 500], np.array([*catalog.titles, "new"], dtype=object),
                        catalog.store_ids, catalog.store_names)
    titles, names = _read(wider, products, np.array([500, 101]))
    assert titles == ["new", "t101"] and names == ["", "s8"]


def test_a_replaced_catalog_or_table_is_read_anew():
    products, catalog = _tables()
    ids = np.array([100, 101, 102, 106])
    assert _read(catalog, products, ids)[0] == ["t100", "t101", "t102", "t106"]
    titles = np.array([f"u{i}" for i in catalog.product_ids], dtype=object)
    retitled = CardCatalog(catalog.product_ids, titles, catalog.store_ids, catalog.store_names)  # same ids
    assert _read(retitled, products, ids)[0] == ["u100", "u101", "u102", "u106"]
    fewer = CardCatalog(catalog.product_ids[1:].copy(), catalog.titles[1:].copy(),  # other ids: found anew
                        np.array([8, 9], dtype=np.int64), np.array(["s8", "s9"], dtype=object))
    assert _read(fewer, products, ids) == (["", "t101", "t102", "t106"], ["", "s8", "s9", ""])
    moved = EntityTable(products.ids, {"store_id": np.full(len(products.ids), 9, np.float32)})  # a new column
    assert _read(fewer, moved, ids)[1] == ["s9"] * 4
    built = (TITLE_PLACES.of(products.ids, fewer.product_ids), STORE_NAME_PLACES.of(moved.columns["store_id"],
                                                                                   fewer.store_ids))
    assert built[0].tolist() == [-1, 0, 1, 2, 3, 4, 5, -1, -1] and built[1].tolist() == [1] * 8 + [-1]
