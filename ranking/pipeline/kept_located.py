"""A kept candidate list's rows in the product table, looked up once per list and table.

``CandidateSet.rows_in`` finds each candidate's row in the product table (a binary search of
every id: ~20 us of a search's ~600 candidates, the known-products filter's whole cost). A
repeated query's or shopper's union is kept (:mod:`ranking.pipeline.kept_union`): its ids are the
same read-only array every repeat, so their rows in one table never change. :func:`kept_located`
keeps them per such array and table, both held weakly and checked by identity on every read (a
swapped table, a list no longer kept, or a new array at a reused address is looked up anew), for
the last :data:`LISTS_KEPT` lists. Ids that anyone may still write (a request's own list, a
filter's ``take``) are looked up every time, as before. The kept rows are read-only and shared by
every request thread; an entry is one value put at once (:class:`~ranking.bounded_memo.BoundedMemo`).
"""

from __future__ import annotations

import weakref

import numpy as np

from ranking.bounded_memo import BoundedMemo
from ranking.features.snapshot import EntityTable, Located, located

# lists kept: each pipeline's kept unions (three pipelines of kept_union.KEPT_UNIONS, 128)
LISTS_KEPT = 384

_KEPT: BoundedMemo[int, tuple] = BoundedMemo(LISTS_KEPT)  # id(ids) -> (ref ids, ref table, rows)


def fixed(array: np.ndarray) -> bool:
    """Whether nothing can write ``array``'s values: it is read-only and owns its data, or its
    base is a read-only array that does (a slice of a kept list)."""
    flags = array.flags
    if flags.writeable:
        return False
    if flags.owndata:
        return True
    base = array.base
    return isinstance(base, np.ndarray) and base.base is None and not base.flags.writeable


def kept_located(products: EntityTable, ids: np.ndarray) -> Located:
    """``located(products.rows(ids))``, kept while ``ids`` is a fixed array (module docstring)."""
    if not fixed(ids):
        return located(products.rows(ids))
    got = _KEPT.get(id(ids))
    if got is not None and got[0]() is ids and got[1]() is products:
        return got[2]
    at = located(products.rows(ids))
    for a in at:
        a.flags.writeable = False
    _KEPT.put(id(ids), (weakref.ref(ids), weakref.ref(products), at))
    return at
