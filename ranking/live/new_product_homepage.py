"""New products in the homepage recall's fitted arrays: rows appended, ranked lists extended.

Each new product gets a row (``product_ids``, ``product_leaf``, ``reach`` and a zero item
vector: it has no co-interactions yet) and is placed in every ranked list that needs no
history, where the fit would have placed it had it been in the catalog: by merit (product
score x sales velocity, as :class:`~ranking.recall.homepage.HomepageCatalog` computes it;
a new product has the leaf's cold-product score and no velocity) inside its leaf
(``by_leaf``: **top_categories**, **theme**, **repurchase**), by reach inside its leaf
(``by_leaf_reach``: **recent_categories**), by merit in **subsidy** (subsidised ones) and
**new_stores** (products of a store opened in the last 30 days), and at the tail of
**trending** (no sales). As the fit keeps them: all of them, their availability (in stock,
not banned) appended to the ``available`` mask the sources read (a bundle fitted before the
lists kept unavailable products, without that mask: only the live ones). An existing list keeps
its order: new rows are inserted, never re-sorted with the old ones.

**recently_viewed** lists them once the shopper's live history names them (their rows now
exist). **personal** and **similar** cannot: they search item vectors learnt from
co-interactions, which a new product has none of until the next fit (its zero vector is
never a seed, and it is not in the item index).
"""

from __future__ import annotations

import numpy as np

from ranking.features.snapshot import EntityTable


def merit_of(products: EntityTable, product_ids: np.ndarray) -> np.ndarray:
    """Homepage merit of these products from the snapshot's table (as ``HomepageCatalog.from_snapshot``)."""
    cols = products.columns
    rows = products.rows(product_ids)
    quality = np.nan_to_num(products.take("product_score", rows), nan=50.0) / 100.0
    velocity = np.nan_to_num(products.take("sales_velocity", rows), nan=0.0)
    top = max(float(np.nan_to_num(cols["sales_velocity"], nan=0.0).max(initial=0.0)), 1e-9)
    return (quality + velocity / top).astype(np.float64)


def insert_ranked(order: np.ndarray, key: np.ndarray, new_rows: np.ndarray) -> np.ndarray:
    """``order`` (rows, best ``key`` first) with ``new_rows`` inserted after every row of at
    least their key."""
    if not len(new_rows):
        return order
    pos = np.searchsorted(-key[order], -key[new_rows], side="right")
    sort = np.lexsort((-key[new_rows], pos))
    return np.insert(order, pos[sort], new_rows[sort]).astype(np.int64)


def insert_by_leaf(order: np.ndarray, ptr: np.ndarray, leaf: np.ndarray, key: np.ndarray,
                   new_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`insert_ranked` inside each leaf's segment ``order[ptr[l]:ptr[l + 1]]``."""
    new_rows = new_rows[leaf[new_rows] >= 0]
    if not len(new_rows):
        return order, ptr
    pos = np.zeros(len(new_rows), np.int64)
    for lf in np.unique(leaf[new_rows]).tolist():
        mine = leaf[new_rows] == lf
        segment = order[ptr[lf]:ptr[lf + 1]]
        pos[mine] = ptr[lf] + np.searchsorted(-key[segment], -key[new_rows[mine]], side="right")
    sort = np.lexsort((-key[new_rows], pos))
    out = np.insert(order, pos[sort], new_rows[sort]).astype(np.int64)
    added = np.bincount(leaf[new_rows], minlength=len(ptr) - 1)
    return out, (ptr + np.r_[0, np.cumsum(added)]).astype(np.int64)


def append_homepage(arrays: dict[str, np.ndarray], products: EntityTable, stores: EntityTable,
                    new_ids: np.ndarray, new_leaf: np.ndarray) -> dict[str, np.ndarray]:
    """A copy of the fitted arrays with these products (already rows of ``products``, the
    snapshot's table to be) added; ``new_leaf`` their leaf rows."""
    a = dict(arrays)
    n_old = len(a["product_ids"])
    ids = np.r_[a["product_ids"], new_ids].astype(np.int64)
    rows = np.arange(n_old, len(ids))
    merit = merit_of(products, ids)
    p_rows = products.rows(new_ids)
    take = lambda name, missing=0.0: products.take(name, p_rows, missing)  # noqa: E731
    live = (take("stock") > 0) & (take("banned") == 0)
    if "available" in a:  # the lists hold every product; the mask says which are live
        a["available"] = np.r_[a["available"], live].astype(bool)
        live = np.ones(len(new_ids), bool)
    store_rows = stores.rows(take("store_id", -1).astype(np.int64))
    new_store = stores.take("new_store", store_rows, 0.0) > 0 if "new_store" in stores.columns \
        else np.zeros(len(new_ids), bool)
    a["product_ids"] = ids
    a["item_vectors"] = np.r_[a["item_vectors"], np.zeros((len(new_ids), a["item_vectors"].shape[1]),
                                                          a["item_vectors"].dtype)]
    leaf = np.r_[a["product_leaf"], new_leaf].astype(np.int64) if "product_leaf" in a else None
    if leaf is not None:
        a["product_leaf"] = leaf
        a["by_leaf"], a["leaf_ptr"] = insert_by_leaf(a["by_leaf"], a["leaf_ptr"], leaf, merit, rows[live])
    if "reach" in a:
        reach_new = merit[rows] / (1.0 + max(float(merit[:n_old].max(initial=0.0)), 0.0))
        a["reach"] = np.r_[a["reach"], reach_new].astype(np.float32)
        if leaf is not None and "by_leaf_reach" in a:
            # the leaf pointers of by_leaf_reach are by_leaf's (the same live rows per leaf)
            a["by_leaf_reach"], _ = insert_by_leaf(a["by_leaf_reach"], arrays["leaf_ptr"], leaf,
                                                   a["reach"].astype(np.float64), rows[live])
    a["trending"] = np.r_[a["trending"], rows[live]].astype(np.int64)  # no sales: the tail
    subsidy = take("subsidy") > 0
    a["subsidy"] = insert_ranked(a["subsidy"], merit, rows[live & subsidy])
    a["new_stores"] = insert_ranked(a["new_stores"], merit, rows[live & new_store])
    return a
