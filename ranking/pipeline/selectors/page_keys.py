"""The keys a page's placement reads of each candidate that only a new listing changes: its store,
leaf category, brand and product grade, one row of a per-product matrix kept per version of those
columns.

The selector read them one column at a time on every page: the store (``Selector.place``), the
shelf spread's brand (and, when capped, leaf) keys, ``product_column`` then a cast each, and the
fold floor's grade (a derived column's take of its own). :data:`PRODUCT_KEYS` holds every
product's keys as one integer row (:class:`~ranking.pipeline.derived_columns.DerivedColumn`:
rebuilt when any column it reads is another array), and a page reads its candidates' rows with one
take (:func:`page_keys`, once per page). Each id key is the column read as
``product_column(..., missing=-1).astype(np.int64)`` reads it (float64, -1 for an unknown product
or a missing column); the grade is ``candidate_grades``' code (-1: no score, an unknown product or
no ``product_score`` column). The matrix is in the narrowest integer type holding every key (the
same numbers; a reader makes Python ints of them or compares them): on the demo's 50,000 products
a row is 4 int16 (8 bytes, within one cache line), where the three int64 keys and the int64 grade
were 32 bytes in two arrays.

Only columns the live catalog does not overlay are kept here (a listing's store, leaf, brand and
product score change only when new products are appended, which replaces every column:
``ranking.catalog_changes.OVERLAID`` names what it overlays): a change it does make (``subsidy``,
prices, stock, many a second) would rebuild the whole matrix on a request thread (about 150 ms at
1M products with the subsidy key in it, a helper's scratch timing), so the subsidy key is kept
apart (:mod:`~ranking.pipeline.selectors.shelf_spread`).
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.derived_columns import DerivedColumn, narrowest
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.traffic_grades import product_grades

STORE, CATEGORY, BRAND, GRADE = range(4)  # the matrix's columns


def _as_read(column: np.ndarray | None, n: int) -> np.ndarray:
    """``column`` as ``product_column(..., missing=-1).astype(np.int64)`` reads it, then -1 (an
    unknown product); all -1 when the table has no such column."""
    if column is None:
        return np.full(n + 1, -1, dtype=np.int64)
    return np.r_[np.asarray(column).astype(np.float64), -1].astype(np.int64)


def _grades(scores: np.ndarray | None, n: int) -> np.ndarray:
    """Every product's grade code as ``candidate_grades`` reads it, then -1 (an unknown product);
    all -1 when the table has no product scores."""
    return np.full(n + 1, -1, dtype=np.int8) if scores is None else product_grades(scores)


def _product_keys(ids: np.ndarray, store: np.ndarray | None, category: np.ndarray | None,
                  brand: np.ndarray | None, scores: np.ndarray | None = None) -> np.ndarray:
    """Every product's keys (one row each, columns :data:`STORE`, :data:`CATEGORY`, :data:`BRAND`,
    :data:`GRADE`), then an unknown product's, in the narrowest integer type holding them all
    (:func:`narrowest`: the same numbers; a row of the demo's is 8 bytes)."""
    n = len(ids)
    return narrowest(np.stack([*(_as_read(c, n) for c in (store, category, brand)), _grades(scores, n)],
                              axis=1))


# per product, kept while the product table's ids and these columns are the same arrays
PRODUCT_KEYS = DerivedColumn(_product_keys)
# the columns it reads: none may be one the live catalog overlays (tests/test_page_keys.py)
LISTING_COLUMNS = ("store_id", "category_id", "brand_id", "product_score")


def candidate_keys(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Each candidate's keys, one row each (columns :data:`STORE`, :data:`CATEGORY`, :data:`BRAND`,
    :data:`GRADE`)."""
    products = snapshot.products  # read once: the live catalog swaps the table whole
    columns = products.columns
    return PRODUCT_KEYS.candidates(products, cands, products.ids,
                                   *(columns.get(name) for name in LISTING_COLUMNS))


def page_keys(page: PageDraft, snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """:func:`candidate_keys`, read once per page (``Selector.place`` reads them first; do not
    write into them)."""
    return page.once(page_keys, lambda: candidate_keys(snapshot, cands))
