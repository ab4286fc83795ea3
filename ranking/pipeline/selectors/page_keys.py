"""The keys a page's placement reads of each candidate that only a new listing changes: its store,
leaf category and brand, one row of a per-product matrix kept per version of those columns.

The selector read them one column at a time on every page: the store (``Selector.place``) and the
shelf spread's brand (and, when capped, leaf) keys, ``product_column`` then a cast each.
:data:`PRODUCT_KEYS` holds every product's keys as one integer row
(:class:`~ranking.pipeline.derived_columns.DerivedColumn`: rebuilt when any column it reads is
another array), and a page reads its candidates' rows with one take (:func:`page_keys`, once per
page). Each key is the column read as ``product_column(..., missing=-1).astype(np.int64)`` reads
it (float64, -1 for an unknown product or a missing column), then ``int64``, the matrix then in the
narrowest integer type holding every key (the same numbers; a reader makes Python ints of them or
compares them).

Only columns the live catalog does not overlay are kept here (a listing's store, leaf and brand
change only when new products are appended, which replaces every column): a change it does make
(``subsidy``, prices, stock, many a second) would rebuild the whole matrix on a request thread
(about 150 ms at 1M products with the subsidy key and grade in it, a helper's scratch timing), so
the subsidy key and the grades are read as before.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.derived_columns import DerivedColumn, narrowest
from ranking.pipeline.selectors.draft import PageDraft

STORE, CATEGORY, BRAND = range(3)  # the matrix's columns


def _as_read(column: np.ndarray | None, n: int) -> np.ndarray:
    """``column`` as ``product_column(..., missing=-1).astype(np.int64)`` reads it, then -1 (an
    unknown product); all -1 when the table has no such column."""
    if column is None:
        return np.full(n + 1, -1, dtype=np.int64)
    return np.r_[np.asarray(column).astype(np.float64), -1].astype(np.int64)


def _product_keys(ids: np.ndarray, store: np.ndarray | None, category: np.ndarray | None,
                  brand: np.ndarray | None) -> np.ndarray:
    """Every product's keys (one row each, columns :data:`STORE`, :data:`CATEGORY`, :data:`BRAND`),
    then an unknown product's, in the narrowest integer type holding them all (:func:`narrowest`:
    the same numbers; a row of the demo's is 6 bytes, not 24, so fewer of a page's ~470 scattered
    rows miss the cache)."""
    return narrowest(np.stack([_as_read(c, len(ids)) for c in (store, category, brand)], axis=1))


# per product, kept while the product table's ids and these columns are the same arrays
PRODUCT_KEYS = DerivedColumn(_product_keys)


def candidate_keys(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Each candidate's keys, one row each (columns :data:`STORE`, :data:`CATEGORY`, :data:`BRAND`)."""
    products = snapshot.products  # read once: the live catalog swaps the table whole
    columns = products.columns
    return PRODUCT_KEYS.candidates(products, cands, products.ids, columns.get("store_id"),
                                   columns.get("category_id"), columns.get("brand_id"))


def page_keys(page: PageDraft, snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """:func:`candidate_keys`, read once per page (``Selector.place`` reads them first; do not
    write into them)."""
    return page.once(page_keys, lambda: candidate_keys(snapshot, cands))
