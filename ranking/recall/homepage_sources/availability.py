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

The sources read a list's available rows through :meth:`Availability.segments`: the list with
its unavailable rows removed, per segment (a leaf of ``by_leaf``), computed once per mask and
list and kept until either is replaced, so a request slices it instead of masking each leaf's
head again (masking each leaf's head cost about 20 us a call, 25 calls a homepage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ranking.features.snapshot import EntityTable



class Availability:
    """A swappable bool mask over the recall's product rows (rows past its end count as available)."""

    def __init__(self, mask: np.ndarray | None) -> None:
        self.mask = None if mask is None else np.asarray(mask, bool)
        # id(rows) -> (mask, rows, ptr, kept rows, kept ptr): valid while the same three objects
        # are current (the mask, the list and its pointers are replaced, never written in place)
        self._kept: dict[int, tuple] = {}

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

    def segments(self, rows: np.ndarray, ptr: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` cut into segments by ``ptr`` (segment ``i`` is ``rows[ptr[i]:ptr[i + 1]]``; None:
        one segment, the whole list), the unavailable rows removed:
        ``kept[kept_ptr[i]:kept_ptr[i + 1]][:k]`` is the first ``k`` available rows of segment
        ``i``. Cached for this mask, list and pointers (recomputed once after any of them is
        replaced)."""
        mask = self.mask
        if mask is None:
            return rows, (np.array([0, len(rows)], np.int64) if ptr is None else ptr)
        hit = self._kept.get(id(rows))
        if hit is not None and hit[0] is mask and hit[1] is rows and hit[2] is ptr:
            return hit[3], hit[4]
        ok = np.ones(len(rows), bool)
        if len(mask):
            ok = (rows >= len(mask)) | mask[np.minimum(rows, len(mask) - 1)]
        bounds = np.array([0, len(rows)], np.int64) if ptr is None else ptr
        kept, kept_ptr = rows[ok], np.r_[0, np.cumsum(ok)][bounds].astype(np.int64)
        if len(self._kept) > 32:  # lists replaced by live catalog changes: drop the old entries
            self._kept = {}
        self._kept[id(rows)] = (mask, rows, ptr, kept, kept_ptr)
        return kept, kept_ptr

    def head(self, rows: np.ndarray, k: int) -> np.ndarray:
        """The first ``k`` available rows of the ranked ``rows``, from the cached available rows."""
        return self.segments(rows)[0][:k] if k > 0 else rows[:k]

    def first_of_segments(self, rows: np.ndarray, ptr: np.ndarray, segments: np.ndarray,
                          k: int) -> list[np.ndarray]:
        """The first ``k`` available rows of each segment ``i`` (``rows[ptr[i]:ptr[i + 1]]``) in
        ``segments``, in turn."""
        kept, kept_ptr = self.segments(rows, ptr)
        starts, ends = kept_ptr[segments], kept_ptr[np.asarray(segments) + 1]
        return [kept[lo:min(hi, lo + k)] for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True)]
