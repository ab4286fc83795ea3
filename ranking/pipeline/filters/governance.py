"""The governance filter: banned products, products of banned stores and products without stock
are never shown (read from the snapshot's product columns, which the live catalog overlays:
ranking/live/catalog_overlay.py).

What each product is barred for is one small code per product (a bit per reason), built once per
version of the ``stock``, ``store_banned`` and ``banned`` columns (:data:`BARRED`, a derived
column: the live catalog copies a changed column and swaps the table whole) and read
for a request's candidates with one take, instead of three float64 column reads and comparisons
per request.

A kept candidate list (a repeated query's or shopper's union: its located rows are kept per table,
:mod:`ranking.pipeline.kept_located`) gets its keep mask and reasons kept too, per (those rows,
the code column, the two switches): the rows and the column are held weakly and checked by identity
on every read, so a ban or a stock change (a new column, hence a new code column) or a swapped
table's rows are read anew. The kept mask and reasons are read-only.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ranking.bounded_memo import BoundedMemo, read_only
from ranking.features.snapshot import FeatureSnapshot
from ranking.pipeline.candidates import CandidateSet, RankRequest
from ranking.pipeline.derived_columns import DerivedColumn
from ranking.pipeline.filters.reasons import no_reasons
from ranking.pipeline.kept_located import LISTS_KEPT, fixed
from ranking.settings import RulesSettings

# the reasons by bit, in the order they were written: a later one names a product barred for several
REASONS = ("out_of_stock", "store_banned", "banned")
BARRED_COLUMNS = ("stock", "store_banned", "banned")  # what :func:`_barred` reads after the ids


def _barred(ids: np.ndarray, stock: np.ndarray | None, store_banned: np.ndarray | None,
            banned: np.ndarray | None) -> np.ndarray:
    """Each product's bits (1 << i: ``REASONS[i]``; a missing column bars nothing), then an unknown
    product's (0), as ``product_column`` reads them: float64, stock ``<= 0``, the flags ``> 0``."""
    bits = np.zeros(len(ids) + 1, dtype=np.uint8)
    for i, (column, barred) in enumerate(((stock, np.less_equal), (store_banned, np.greater),
                                          (banned, np.greater))):
        if column is not None:
            bits[:-1] |= barred(np.asarray(column).astype(np.float64), 0).astype(np.uint8) << i
    return bits


# per version of the ids and the three columns (ranking/pipeline/derived_columns.py)
BARRED = DerivedColumn(_barred, ("ids", *BARRED_COLUMNS))


def _tables(drop_out_of_stock: bool, drop_banned: bool) -> tuple[np.ndarray, np.ndarray]:
    """(keep, reason) for each of the 8 codes: the switched-off reasons ignored, the last
    switched-on one named."""
    on = (drop_out_of_stock, drop_banned, drop_banned)
    keep, reason = np.ones(8, dtype=bool), np.full(8, "", dtype=object)
    for code in range(8):
        for i, name in enumerate(REASONS):
            if on[i] and code >> i & 1:
                keep[code], reason[code] = False, name
    return keep, reason


# per (rules.drop_out_of_stock, rules.drop_banned)
BY_CODE = {(a, b): _tables(a, b) for a in (False, True) for b in (False, True)}

# (id of a kept list's located rows, the switches) -> (ref rows, ref code column, keep, reason)
_KEPT: BoundedMemo[tuple, tuple] = BoundedMemo(LISTS_KEPT)


@dataclass
class Governance:
    """Banned products (and every product of a banned store) and products without stock are
    never shown (``rules.drop_banned``, ``rules.drop_out_of_stock``)."""

    settings: RulesSettings
    name: str = "governance"

    def apply(self, cands: CandidateSet, request: RankRequest, snapshot: FeatureSnapshot
              ) -> tuple[np.ndarray, np.ndarray]:
        switches = bool(self.settings.drop_out_of_stock), bool(self.settings.drop_banned)
        products = snapshot.products  # read once: the live catalog swaps the table whole
        sources = (products.ids, *(products.columns.get(c) for c in BARRED_COLUMNS))
        rows = cands.rows_in(products)[0]
        if not fixed(rows):  # a list made for this request: its rows are looked up anew too
            return _decided(BY_CODE[switches], BARRED.candidates(products, cands, *sources), len(cands))
        column, key = BARRED.of(*sources), (id(rows), *switches)
        got = _KEPT.get(key)
        if got is None or got[0]() is not rows or got[1]() is not column:
            decided = read_only(_decided(BY_CODE[switches], BARRED.candidates(products, cands, *sources),
                                         len(cands)))
            got = _KEPT.put(key, (weakref.ref(rows), weakref.ref(column), *decided))
        return got[2], got[3]


def _decided(tables: tuple[np.ndarray, np.ndarray], code: np.ndarray, n: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(keep, reason) of the candidates' ``code``s under the switches' ``tables``."""
    if not code.any():  # nothing barred (every homepage: its recall skips unavailable products)
        return np.ones(n, dtype=bool), no_reasons(n)
    keep, reason = tables
    return keep[code], reason[code]
