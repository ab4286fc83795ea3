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

A new mask is installed with the available rows of every list read under the mask it replaces
already built (:meth:`Availability.follow`, on the live catalog's thread): at 1M products the
first homepage after each catalog change built them itself (3 lists of 1M rows, ~35 ms). A change
of a few products is patched into the kept rows (the flipped rows removed or inserted at their
places: :func:`patched`, the very arrays a build gives); a larger one, or a mask of another
length, builds them anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ranking.features.snapshot import EntityTable



class Availability:
    """A swappable bool mask over the recall's product rows (rows past its end count as available)."""

    def __init__(self, mask: np.ndarray | None) -> None:
        self.mask = None if mask is None else np.asarray(mask, bool)
        # (id(rows), id(ptr), id(mask)) -> Kept: valid while the same three objects are current
        # (the mask, the list and its pointers are replaced, never written in place)
        self._kept: dict[tuple[int, int, int], Kept] = {}

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
        self.install(out)

    def install(self, mask: np.ndarray) -> None:
        """Replace the mask by ``mask`` (bool, never written after), with the available rows of
        every list kept under the current mask built for it first, so no reader builds them."""
        held, kept = self.mask, self._kept
        if held is not None and held is not mask:
            flipped = flipped_rows(held, mask)
            carried = {}
            for entry in list(kept.values()):
                if entry.mask is held:
                    carried[(id(entry.rows), id(entry.ptr), id(mask))] = entry.under(mask, flipped)
            self._kept = {**kept, **carried}  # the current mask's entries too, for its readers
        self.mask = mask  # one assignment: a reader sees the old mask (and its rows) or the new
        self._kept = {k: e for k, e in self._kept.items() if e.mask is mask}

    def segments(self, rows: np.ndarray, ptr: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``rows`` cut into segments by ``ptr`` (segment ``i`` is ``rows[ptr[i]:ptr[i + 1]]``; None:
        one segment, the whole list), the unavailable rows removed:
        ``kept[kept_ptr[i]:kept_ptr[i + 1]][:k]`` is the first ``k`` available rows of segment
        ``i``. Cached for this mask, list and pointers (recomputed once after any of them is
        replaced)."""
        mask = self.mask
        if mask is None:
            return rows, (np.array([0, len(rows)], np.int64) if ptr is None else ptr)
        hit = self._kept.get((id(rows), id(ptr), id(mask)))
        if hit is not None and hit.mask is mask and hit.rows is rows and hit.ptr is ptr:
            return hit.kept, hit.kept_ptr
        entry = Kept.built(mask, rows, ptr)
        if len(self._kept) > 32:  # lists replaced by live catalog changes: drop the old entries
            self._kept = {}
        self._kept[(id(rows), id(ptr), id(mask))] = entry
        return entry.kept, entry.kept_ptr

    def holds(self, rows: np.ndarray, ptr: np.ndarray | None = None) -> bool:
        """Whether :meth:`segments` of this list and pointers under the current mask is kept (no mask:
        nothing to build)."""
        mask = self.mask
        hit = self._kept.get((id(rows), id(ptr), id(mask)))
        return mask is None or (hit is not None and hit.mask is mask and hit.rows is rows and hit.ptr is ptr)

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


# more flipped products than this: a list's available rows are built anew (a patch compares the
# list with each flipped row: ~0.5 ms a row at 1M rows, a build ~10 ms)
PATCHED_FLIPS = 16


def flipped_rows(before: np.ndarray, after: np.ndarray) -> np.ndarray | None:
    """The product rows whose availability differs between two masks; None when the masks' lengths
    differ (rows past a mask's end count as available: built anew) or too many flipped."""
    if len(before) != len(after):
        return None
    flipped = np.flatnonzero(before != after)
    return flipped if len(flipped) <= PATCHED_FLIPS else None


@dataclass(frozen=True)
class Kept:
    """A list's available rows under one mask: ``kept`` (the list without its unavailable rows),
    ``kept_ptr`` (each segment's bounds in ``kept``) and ``dropped_at`` (the positions in ``rows``
    of the unavailable ones, ascending: where a flipped row goes back)."""

    mask: np.ndarray
    rows: np.ndarray
    ptr: np.ndarray | None
    kept: np.ndarray
    kept_ptr: np.ndarray
    dropped_at: np.ndarray

    @classmethod
    def built(cls, mask: np.ndarray, rows: np.ndarray, ptr: np.ndarray | None) -> Kept:
        """The available rows of ``rows`` under ``mask``, from the whole list."""
        ok = np.ones(len(rows), bool)
        if len(mask):
            ok = (rows >= len(mask)) | mask[np.minimum(rows, len(mask) - 1)]
        kept, kept_ptr = rows[ok], np.r_[0, np.cumsum(ok)][_bounds(rows, ptr)].astype(np.int64)
        return cls(mask, rows, ptr, kept, kept_ptr, np.flatnonzero(~ok))

    def under(self, mask: np.ndarray, flipped: np.ndarray | None) -> Kept:
        """These rows under ``mask``: patched when ``flipped`` (:func:`flipped_rows` from this mask
        to ``mask``) is known, else built anew."""
        if flipped is None:
            return Kept.built(mask, self.rows, self.ptr)
        return patched(self, mask, flipped)


def _bounds(rows: np.ndarray, ptr: np.ndarray | None) -> np.ndarray:
    return np.array([0, len(rows)], np.int64) if ptr is None else ptr


def patched(old: Kept, mask: np.ndarray, flipped: np.ndarray) -> Kept:
    """``old``'s list under ``mask``, which differs from ``old.mask`` at the product rows ``flipped``
    only: each listed place of a flipped row leaves ``kept`` or comes back at its place (the number
    of available places before it), the segments' bounds move by the places that left or came
    back before them. The same arrays :meth:`Kept.built` gives, without a pass over the list's
    rows through the mask."""
    rows = old.rows
    # kind="sort": one comparison of the list a flipped row (numpy's default for integers, a table
    # over the rows' range, gathers it at every row: ~15 ms at 1M rows against ~1.7 for 3 rows)
    at = np.flatnonzero(np.isin(rows, flipped, kind="sort")) if len(flipped) else np.zeros(0, np.int64)
    if not len(at):
        return Kept(mask, rows, old.ptr, old.kept, old.kept_ptr, old.dropped_at)
    back = mask[rows[at]]  # the places whose row is available now (was not), ascending
    into = at - np.searchsorted(old.dropped_at, at)  # available places before each, under old.mask
    gone, came = at[~back], at[back]
    kept = np.insert(np.delete(old.kept, into[~back]), into[back] - np.searchsorted(gone, came), rows[came])
    bounds = _bounds(rows, old.ptr)
    kept_ptr = old.kept_ptr + np.searchsorted(came, bounds) - np.searchsorted(gone, bounds)
    dropped_at = np.union1d(np.setdiff1d(old.dropped_at, came, assume_unique=True), gone)
    return Kept(mask, rows, old.ptr, kept, kept_ptr.astype(np.int64), dropped_at)
