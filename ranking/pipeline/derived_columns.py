"""Product columns derived from other arrays (a product's grade code, its store's experience
score, its leaf's theme slot), computed once per version of those arrays instead of once per
request, and read for a request's candidates with one take.

Each :class:`DerivedColumn` keeps the columns of the last few versions of the arrays it was built
from (:attr:`DerivedColumn.VERSIONS`: two A/B arms serving different bundles read theirs in
turn) and builds anew when any source is another object. The live catalog never writes into a
served array: it copies a changed column and swaps the table whole
(``ranking/live/catalog_overlay.py``, ``new_products.py``), so a changed column is a new object.
The sources are held weakly (a swapped-out table is not kept alive, and a version whose sources
are gone is dropped at the next build); a source that cannot be (a tuple of settings, a number,
None) is held as it is. A request that reads one version while another is being built reads a
whole entry (the memo is one tuple, replaced at once).

A page reads five or six derived columns for the same candidates; the candidates' index into
them (their rows, the unknown product's entry for the others) is made once per set of located
rows and request thread (:func:`_candidate_index`), as ``score_spread`` keeps its spread; when every
candidate is known (``Located.all_known``, most pages) the located rows are the index themselves.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet

_LAST = threading.local()  # .held: (weak references to a set's located rows, their index)


def _candidate_index(safe: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Each candidate's row, -1 (a derived column's last entry: the unknown product's) where the
    table lacks it; kept for the last located rows this thread read, by their identity through
    weak references (located rows are made once and never written: ``CandidateSet.rows_in``),
    so neither a request's arrays are held nor a newer pair at a reused address is taken for them."""
    held = getattr(_LAST, "held", None)
    if held is not None and held[0]() is safe and held[1]() is known:
        return held[2]
    index = np.where(known, safe, -1)
    _LAST.held = (weakref.ref(safe), weakref.ref(known), index)
    return index


def or_default(values: np.ndarray | None, n: int, default: float) -> np.ndarray:
    """A product column as float64, or ``n`` values of ``default`` when the table lacks it (what the
    builds below read from a column that may be missing)."""
    return np.full(n, default) if values is None else np.asarray(values, dtype=np.float64)


class _Alive:
    """Whether every weakly held source of an entry still exists: cleared by the first one's
    weak reference callback, which runs as that source is freed (before its address can be taken
    by a new object)."""

    __slots__ = ("alive",)

    def __init__(self) -> None:
        self.alive = True

    def __call__(self, _ref: weakref.ReferenceType) -> None:
        self.alive = False


def _held(source: Any, alive: _Alive) -> weakref.ReferenceType | tuple:
    """A weak reference to ``source`` that clears ``alive`` when it is freed, or ``(source,)``
    when it cannot have one (held as it is, so its address stays its own)."""
    try:
        return weakref.ref(source, alive)
    except TypeError:
        return (source,)


class DerivedColumn:
    """``build(*sources)``: one value per product row and, last, the value of a product the table
    does not know; kept while every source is the same object (module docstring), for the last
    :attr:`VERSIONS` versions of the sources.

    An entry is found by its sources' addresses (``id``), one tuple compare (read ~13 times a
    page: a loop over weak references cost several times that), and taken only while its
    :class:`_Alive` says every weakly held source still exists: a source at a matching address is
    then that very object (two live objects never share an address, and one freed cleared the flag
    before its address could be reused); the others are held as they are."""

    VERSIONS = 4

    def __init__(self, build: Callable[..., np.ndarray], table_columns: tuple[str, ...] = ()) -> None:
        self.build = build
        # the product table's columns its first sources are, by name ("ids": the table's ids), so a
        # column a new table adds is found too (:meth:`build_for`)
        self.table_columns = table_columns
        # (sources' addresses, their liveness, their references, column), newest first
        self._memo: tuple[tuple[tuple, _Alive, tuple, np.ndarray], ...] = ()
        EVERY.add(self)

    def build_replacing(self, new: dict[int, Any]) -> None:
        """Build now the newest kept version that reads a source whose ``id`` is in ``new`` again
        with each such source replaced by ``new[id(source)]`` (the live catalog, before it swaps in
        a table whose changed columns are new objects: ``ranking/live/catalog_tables.py``), so no
        page builds it. Older versions reading it were for tables swapped out before."""
        for ids, alive, refs, _ in self._memo:
            if alive.alive and any(i in new for i in ids):
                sources = tuple(r[0] if isinstance(r, tuple) else r() for r in refs)
                self.of(*(new.get(id(s), s) for s in sources))
                return

    def build_for(self, old: EntityTable, new: EntityTable) -> None:
        """With :attr:`table_columns`: build now the version for ``new`` of the kept version read
        from ``old``'s columns, when any of them is another object in ``new`` (a column ``old``
        lacked too, which :meth:`build_replacing`, mapping old objects to new ones, cannot see: the
        offer columns ``subsidy_depth`` and ``authentic_guarantee``, which the first new products'
        rows add to the table of a bundle built before offers; a store's first ban adds none: the
        served table carries ``store_banned`` from the engine's load)."""
        if not self.table_columns:
            return
        before, after = _named(old, self.table_columns), _named(new, self.table_columns)
        if all(a is b for a, b in zip(before, after, strict=True)):
            return
        n = len(before)
        for _, alive, refs, _ in self._memo:
            sources = tuple(r[0] if isinstance(r, tuple) else r() for r in refs)
            if alive.alive and all(s is b for s, b in zip(sources[:n], before, strict=True)):
                self.of(*after, *sources[n:])
                return

    def of(self, *sources: Any) -> np.ndarray:
        """The column for these sources (built on the first call with them)."""
        key = tuple(map(id, sources))
        for ids, alive, _refs, column in self._memo:
            if ids == key and alive.alive:  # the addresses first: a reused one was cleared before
                return column
        column = self.build(*sources)
        alive = _Alive()
        kept = [entry for entry in self._memo if entry[1].alive][: self.VERSIONS - 1]
        self._memo = ((key, alive, tuple(_held(s, alive) for s in sources), column), *kept)
        return column

    def candidates(self, products: EntityTable, cands: CandidateSet, *sources: Any) -> np.ndarray:
        """Each candidate's value (the unknown product's value where ``products`` lacks it);
        ``sources`` are read from the same ``products`` table."""
        column = self.of(*sources)
        at = cands.rows_in(products)
        if getattr(at, "all_known", False):  # every row known (most pages): the rows are the index
            return column[at[0]]
        return column[_candidate_index(*at)]


def _named(table: EntityTable, names: tuple[str, ...]) -> tuple[Any, ...]:
    """``table``'s columns by name (``ids``: its ids; None where it lacks one), as the pages pass them."""
    return tuple(table.ids if name == "ids" else table.columns.get(name) for name in names)


EVERY: weakref.WeakSet[DerivedColumn] = weakref.WeakSet()  # every derived column made (``build_replacing``)

_SIGNED = (np.int8, np.int16, np.int32, np.int64)


def narrowest(values: np.ndarray) -> np.ndarray:
    """Integer ``values`` in the narrowest signed integer type holding every one exactly (the same
    numbers: a page's scattered rows touch a cache line each, and a narrower column is more often
    still in cache from the page before); an empty array as it is."""
    if not len(values):
        return values
    lo, hi = int(values.min()), int(values.max())
    for kind in _SIGNED:
        info = np.iinfo(kind)
        if info.min <= lo and hi <= info.max:
            return values.astype(kind)
    return values


def _leaf_positions(category: np.ndarray, snapshot: FeatureSnapshot, leaf_ids: np.ndarray) -> np.ndarray:
    """Every product's leaf position (``leaf_of_category`` of its category read as
    ``product_column`` reads it: float64, then int), then an unknown product's (category -1);
    ``leaf_ids``: the snapshot's, which ``leaf_of_category`` reads (a new leaf list builds anew);
    in the narrowest integer type holding them (:func:`narrowest`: int8 below 128 leaves)."""
    return narrowest(snapshot.leaf_of_category(
        np.r_[np.asarray(category).astype(np.float64), -1].astype(np.int64)))


# the leaf position per product, built once per product table and leaf list, not per request (a
# take, a cast and a binary search per candidate): session intent reads it, and theme boost's
# theme slots are built from it
LEAF_POSITIONS = DerivedColumn(_leaf_positions)
