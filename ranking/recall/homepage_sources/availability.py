"""Which products the homepage's ranked lists may hand out now: in stock, not banned, store not banned.

The fitted lists (``by_leaf``, ``by_leaf_reach``, ``trending``, ``subsidy``, ``new_stores`` of
``HomepageRecall.fit_catalog``) hold every product, available or not at bundle time, in their
order; :class:`Availability` is the one mask over product rows that the sources read when they
take a list's head (:meth:`Availability.first`), so a product restocked or unbanned after the
bundle was built comes back to the homepage as soon as the mask says so, and one sold out or
banned leaves the lists without using a slot. The bundle's mask (``available``, saved with the
lists) holds at load; the live catalog (:mod:`ranking.live.catalog_follower`) replaces it from
the overlaid product columns at every poll that changes them (:meth:`Availability.follow`).
A bundle fitted before the lists kept unavailable products has no mask: every listed row counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ranking.features.snapshot import EntityTable

HEAD_SLACK = 16  # a list's head is read 2k + this deep first, deeper only when too much is out


class Availability:
    """A swappable bool mask over the recall's product rows (rows past its end count as available)."""

    def __init__(self, mask: np.ndarray | None) -> None:
        self.mask = None if mask is None else np.asarray(mask, bool)

    def follow(self, product_ids: np.ndarray, products: EntityTable) -> None:
        """The mask of ``product_ids`` (the recall's rows) from ``products``' ``stock``, ``banned``
        and ``store_banned``; a product ``products`` does not know stays as it was."""
        rows = products.rows(np.asarray(product_ids, np.int64))
        known = rows >= 0
        out = known & (products.take("stock", rows, 0.0) > 0) & (products.take("banned", rows, 1.0) == 0)
        if "store_banned" in products.columns:
            out &= products.take("store_banned", rows, 0.0) == 0
        if self.mask is not None and not known.all():
            before = np.zeros(len(out), bool)
            before[: min(len(self.mask), len(out))] = self.mask[: len(out)]
            out = np.where(known, out, before | (np.arange(len(out)) >= len(self.mask)))
        self.mask = out  # one assignment: a reader sees the old mask or the new one

    def first(self, rows: np.ndarray, k: int) -> np.ndarray:
        """The first ``k`` available rows of the ranked ``rows``."""
        mask = self.mask
        if mask is None or k <= 0 or not len(rows):
            return rows[:k]
        depth = min(len(rows), 2 * k + HEAD_SLACK)
        while True:
            head = rows[:depth]
            ok = (head >= len(mask)) | mask[np.minimum(head, len(mask) - 1)]
            got = head[ok]
            if len(got) >= k or depth >= len(rows):
                return got[:k]
            depth = min(len(rows), depth * 4)
