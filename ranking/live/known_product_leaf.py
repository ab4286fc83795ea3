"""A known product moved to another leaf category in the homepage recall's ranked lists.

The per-leaf lists (``by_leaf``: **top_categories**, **theme**, **repurchase**;
``by_leaf_reach``: **recent_categories**) are rank-ordered segments ``order[ptr[l]:ptr[l + 1]]``,
one per leaf. :func:`move_to_leaf` takes the moved products' rows out of their old leaf's
segment and inserts them into the new leaf's at the place their key earns there (merit for
``by_leaf``, reach for ``by_leaf_reach``: the keys the fit ranked by, as
:func:`~ranking.live.new_product_homepage.insert_by_leaf` places a new product), and sets
``product_leaf``. Every other product keeps its order. A row a list did not hold (a bundle
fitted before the lists kept unavailable products) is not added to it. Copy-on-write: a new
dict of arrays, the caller swaps it in.
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import EntityTable
from ranking.live.new_product_homepage import insert_by_leaf, merit_of


def remove_from_leaves(order: np.ndarray, ptr: np.ndarray, leaf: np.ndarray, rows: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``order`` without ``rows`` and its leaf pointers after (``leaf``: each row's leaf as the
    segments hold it); the rows that were in it."""
    gone = np.isin(order, rows)
    held = order[gone]
    removed = np.bincount(leaf[held], minlength=len(ptr) - 1)[:len(ptr) - 1]
    return order[~gone].astype(np.int64), (ptr - np.r_[0, np.cumsum(removed)]).astype(np.int64), held


def move_to_leaf(arrays: dict[str, np.ndarray], products: EntityTable, rows: np.ndarray,
                 new_leaf: np.ndarray) -> dict[str, np.ndarray]:
    """A copy of the fitted arrays with homepage rows ``rows`` (distinct) in leaves ``new_leaf``
    (leaf rows; -1: in no leaf list); ``products`` the snapshot's table for their merit."""
    a = dict(arrays)
    if "product_leaf" not in a or not len(rows):
        return a
    rows = np.asarray(rows, np.int64)
    old_leaf = a["product_leaf"]
    leaf = old_leaf.copy()
    leaf[rows] = new_leaf
    a["product_leaf"] = leaf.astype(old_leaf.dtype)
    merit = merit_of(products, a["product_ids"])
    order, ptr, held = remove_from_leaves(a["by_leaf"], a["leaf_ptr"], old_leaf, rows)
    a["by_leaf"], a["leaf_ptr"] = insert_by_leaf(order, ptr, leaf, merit, held)
    if "by_leaf_reach" in a and "reach" in a:
        # by_leaf_reach shares by_leaf's pointers (the same rows per leaf)
        order, _, held = remove_from_leaves(a["by_leaf_reach"], arrays["leaf_ptr"], old_leaf, rows)
        a["by_leaf_reach"], _ = insert_by_leaf(order, ptr, leaf, a["reach"].astype(np.float64), held)
    return a
