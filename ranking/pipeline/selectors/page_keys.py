"""The keys a page's placement reads of each candidate: its store, leaf category, brand, subsidy
key and product grade, one row of a per-product matrix kept per version of the product columns.

The selector read them one column at a time on every page: the store (``Selector.place``), the
brand and subsidy keys of the shelf spread's caps (``product_column``, a cast, a comparison and
``np.where`` each) and the fold floor's grades, about a dozen numpy calls on a page's 200-500
candidates. :data:`PRODUCT_KEYS` holds every product's keys as one ``int64`` row
(:class:`~ranking.pipeline.derived_columns.DerivedColumn`: rebuilt when any column it reads is
another array, which the live catalog's swaps make), and a page reads its candidates' rows with one
take (:func:`page_keys`, once per page). Each value is the one the per-page reads made:

- store, category, brand: the column read as ``product_column`` reads it (float64, -1 for an
  unknown product or a missing column), then ``int64``;
- subsidy: 0 for a subsidy product (``subsidy > 0``), -1 otherwise (unknown, missing or NaN): the
  subsidy share cap's key;
- grade: :func:`~ranking.pipeline.traffic_grades.grade_codes` of the product score (-1: none).
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.pipeline.selectors.draft import PageDraft
from ranking.pipeline.traffic_grades import grade_codes

STORE, CATEGORY, BRAND, SUBSIDY, GRADE = range(5)  # the matrix's columns


def _as_read(column: np.ndarray | None, n: int) -> np.ndarray:
    """``column`` as ``product_column(..., missing=-1).astype(np.int64)`` reads it, then -1 (an
    unknown product); all -1 when the table has no such column."""
    if column is None:
        return np.full(n + 1, -1, dtype=np.int64)
    return np.r_[np.asarray(column).astype(np.float64), -1].astype(np.int64)


def _product_keys(ids: np.ndarray, store: np.ndarray | None, category: np.ndarray | None,
                  brand: np.ndarray | None, subsidy: np.ndarray | None, score: np.ndarray | None
                  ) -> np.ndarray:
    """Every product's keys (one row each, columns :data:`STORE` ... :data:`GRADE`), then an
    unknown product's."""
    n = len(ids)
    keys = np.empty((n + 1, 5), dtype=np.int64)
    keys[:, STORE], keys[:, CATEGORY], keys[:, BRAND] = (_as_read(c, n) for c in (store, category, brand))
    flag = np.zeros(n + 1, dtype=bool)
    if subsidy is not None:
        flag[:n] = np.asarray(subsidy).astype(np.float64) > 0
    keys[:, SUBSIDY] = np.where(flag, 0, -1)
    keys[:, GRADE] = -1
    if score is not None:
        keys[:n, GRADE] = grade_codes(np.asarray(score).astype(np.float64))
    return keys


# per product, kept while the product table's ids and key columns are the same arrays
PRODUCT_KEYS = DerivedColumn(_product_keys)


def candidate_keys(snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """Each candidate's keys, one row each (columns :data:`STORE` ... :data:`GRADE`)."""
    products = snapshot.products  # read once: the live catalog swaps the table whole
    columns = products.columns
    return PRODUCT_KEYS.candidates(products, cands, products.ids, columns.get("store_id"),
                                   columns.get("category_id"), columns.get("brand_id"),
                                   columns.get("subsidy"), columns.get("product_score"))


def page_keys(page: PageDraft, snapshot: FeatureSnapshot, cands: CandidateSet) -> np.ndarray:
    """:func:`candidate_keys`, read once per page (``Selector.place`` reads them first; do not
    write into them)."""
    return page.once(page_keys, lambda: candidate_keys(snapshot, cands))
