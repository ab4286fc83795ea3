"""What every homepage source shares: the fitted tables it reads and the one protocol.

A source is a small object with a ``name``, a ``quota`` (settings
``recall.homepage_quotas``, read when asked, so a bundle's quotas updated after load
count) and ``candidates(context, k)``: up to ``k`` product ids, best first, for the
shopper in the per-request :class:`~ranking.recall.homepage_sources.context.ShopperContext`.
A source that has nothing for this shopper returns no ids.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from ranking.bounded_memo import BoundedMemo, read_only
from ranking.recall.homepage_sources.availability import Availability
from ranking.recall.homepage_sources.context import ShopperContext
from ranking.recall.taste_lists import TasteLists
from ranking.recall.vector_index import VectorIndex

NO_IDS = np.zeros(0, dtype=np.int64)
T = TypeVar("T")
# lists a source keeps, one per distinct input it reads (up to 100 ids and a key of up to ~250
# bytes each: about 4 MB a source when full)
SHOPPER_LISTS = 4_096
_NO_MASK = object()  # no mask seen yet (a bundle without one has the mask None)


class ShopperSource(Protocol):
    """One homepage candidate source."""

    name: str

    @property
    def quota(self) -> int:
        ...

    def candidates(self, context: ShopperContext, k: int) -> np.ndarray:
        """Up to ``k`` product ids, best first (none when the source has nothing to add)."""
        ...

    def listed(self, context: ShopperContext, k: int) -> np.ndarray:
        """:meth:`candidates`, or the list kept for this context (``QuotaSource.listed``)."""
        ...


@dataclass(frozen=True)
class FittedHomepage:
    """The homepage recall's fitted arrays (see ``HomepageRecall.fit_catalog``), its
    item-vector index, which products its ranked lists may hand out now and the shoppers'
    ``personal`` lists the bundle kept (none: scanned), as the sources read them."""

    arrays: Mapping[str, np.ndarray]
    index: VectorIndex
    availability: Availability = field(default_factory=lambda: Availability(None))
    tastes: TasteLists | None = None  # each shopper's personal list as the bundle's history gives it

    def head(self, name: str, k: int) -> np.ndarray:
        """Product rows: the first ``k`` available of the ranked list ``name``."""
        return self.availability.head(self.arrays[name], k)

    @property
    def product_ids(self) -> np.ndarray:
        return self.arrays["product_ids"]

    def from_leaves(self, leaves: np.ndarray, k: int) -> np.ndarray:
        """Product rows: the best ``k / len(leaves)`` (at least one) by merit of each leaf, in turn."""
        ptr, by_leaf = self.arrays["leaf_ptr"], self.arrays["by_leaf"]
        per = max(1, k // max(len(leaves), 1))
        parts = self.availability.first_of_segments(by_leaf, ptr, leaves, per)
        return np.concatenate(parts) if parts else NO_IDS


@dataclass
class QuotaSource:
    """A source bound to the fitted tables and the recall's quotas (shared, live)."""

    fitted: FittedHomepage
    quotas: Mapping[str, int]
    name = ""
    # (mask, {key: value}): what :meth:`per_mask` computed under the current availability mask
    _memo: tuple = field(default_factory=lambda: (None, {}), init=False, repr=False, compare=False)
    # (mask, list_key -> ids): :meth:`listed`'s lists under the current availability mask
    _lists: tuple = field(default_factory=lambda: (_NO_MASK, BoundedMemo(0)), init=False, repr=False,
                          compare=False)

    @property
    def quota(self) -> int:
        return int(self.quotas.get(self.name, 0))

    def per_mask(self, key: Hashable) -> object:
        """:meth:`per_mask_value` of ``key``, kept until the availability mask is replaced: for a value
        that depends only on the fitted lists and the mask (and ``key``), not on the shopper. The live catalog
        replaces the mask at each poll that changes it (never writes it in place), and
        ``HomepageRecall.replace_arrays`` builds new sources, so neither can leave a stale
        value. Arrays kept here are read-only (a caller writing into one would fail loudly)."""
        mask = self.fitted.availability.mask
        held_mask, values = self._memo
        if held_mask is not mask:
            values = {}
            self._memo = (mask, values)  # one assignment: a concurrent reader sees old or new
        if key not in values:
            value = self.per_mask_value(key)
            for array in value if isinstance(value, tuple) else (value,):
                if isinstance(array, np.ndarray):
                    array.flags.writeable = False
            values[key] = value
        return values[key]

    def per_mask_value(self, key: Hashable) -> object:
        """What :meth:`per_mask` keeps for ``key`` (a source that keeps values per mask says how to
        compute them, so :meth:`carry_values` can compute them again)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no values per availability mask")

    def carry_values(self) -> None:
        """Compute now, under the mask just installed, each value :meth:`per_mask` kept under the
        mask before it (the live catalog's thread, right after a change replaced the mask: at 1M
        products the first homepage computed trending's head itself); a source that kept none
        computes nothing."""
        held, values = self._memo
        if held is self.fitted.availability.mask:
            return
        for key in list(values):
            self.per_mask(key)

    def list_key(self, context: ShopperContext, k: int) -> Hashable | None:
        """What of the context this source's list reads, with ``k``, as a key (:meth:`listed` keeps
        the list under it); None: not kept (a source whose list is one slice, or ``personal``,
        which keeps its own)."""
        return None

    def listed(self, context: ShopperContext, k: int) -> np.ndarray:
        """``candidates(context, k)``, kept (read-only) under :meth:`list_key` until the
        availability mask is replaced: a list depends only on what of the context it reads, ``k``,
        the fitted lists and the mask, so a returning shopper (at any hour), or another with the
        same favourite leaves, reads it again (it cost a few numpy calls per leaf or seed: 10-60 us
        a source). ``HomepageRecall.replace_arrays`` builds new sources: nothing kept survives it."""
        key = self.list_key(context, k)
        if key is None:
            return self.candidates(context, k)
        mask = self.fitted.availability.mask
        held_mask, lists = self._lists
        if held_mask is not mask:
            lists = BoundedMemo(SHOPPER_LISTS)
            self._lists = (mask, lists)  # one assignment: a concurrent reader sees old or new
        ids = lists.get(key)
        if ids is None:
            ids = self.candidates(context, k)
            ids = lists.put(key, read_only(ids.copy() if ids is NO_IDS else ids))  # NO_IDS stays writable
        return ids


def array_key(k: int, *arrays: np.ndarray) -> tuple:
    """``k`` and arrays as a hashable key: each array's dtype and bytes (equal bytes of two dtypes
    differ)."""
    return (k, *((a.dtype.str, a.tobytes()) for a in arrays))
