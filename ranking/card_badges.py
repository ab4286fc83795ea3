"""Which badges each product carries: what a card lists and a badge filter keeps.

:func:`badge_matrix` reads the served product table (the bundle's snapshot with the live
catalog's changes laid over it, so a merchant turning free shipping on shows at once): one
column per code of :data:`ranking.badges.BADGES`, in that order. The six trust and offer
attributes are their catalog columns, ``subsidy`` the subsidy flag, and ``new_product`` a
listing younger than ``badges.new_product_days`` at the request's time. A product the
table does not know, or a bundle without a column, carries none of it.
"""

from __future__ import annotations

import numpy as np

from ranking.badges import ATTRIBUTE_BADGES, BADGES, NEW_PRODUCT
from ranking.features.snapshot import EntityTable, located

DAY_MS = 86_400_000
# the product columns of the trust and offer attributes and the subsidy depth: what the
# snapshot keeps for the offer features (ranking.features.offer_features) and the badges, and
# what a new listing of the live catalog fills
OFFER_COLUMNS: tuple[str, ...] = (*ATTRIBUTE_BADGES, "subsidy_depth")


def badge_matrix(products: EntityTable, product_ids: np.ndarray, now_ms: int, new_product_days: float,
                 rows: np.ndarray | None = None) -> np.ndarray:
    """(n, len(BADGES)) booleans: whether each product carries each badge (``rows``: the
    products' rows of ``products`` when the caller has them)."""
    ids = np.asarray(product_ids, dtype=np.int64)
    at = located(products.rows(ids) if rows is None else rows)  # the masks once for every column
    out = np.zeros((len(ids), len(BADGES)), dtype=bool)
    for j, code in enumerate(BADGES):
        column = "listed_at" if code == NEW_PRODUCT else code
        if column not in products.columns:
            continue
        values = products.take_located(column, at, missing=np.nan)
        if code == NEW_PRODUCT:
            out[:, j] = (now_ms - values) < new_product_days * DAY_MS  # NaN (unknown) compares False
        else:
            out[:, j] = values > 0
    return out


def badge_lists(matrix: np.ndarray) -> list[list[str]]:
    """Each row's badge codes, in :data:`BADGES` order (what a card carries)."""
    return [[c for c, on in zip(BADGES, row, strict=True) if on] for row in matrix.tolist()]
