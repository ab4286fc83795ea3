"""Which badges each product carries: what a card lists and a badge filter keeps.

:func:`badge_matrix` reads the served product table (the bundle's snapshot with the live
catalog's changes laid over it, so a merchant turning free shipping on shows at once): one
column per code of :data:`ranking.badges.BADGES`, in that order. The six trust and offer
attributes are their catalog columns, ``subsidy`` the subsidy flag, and ``new_product`` a
listing younger than ``badges.new_product_days`` at the request's time. A product the
table does not know, or a bundle without a column, carries none of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ranking.badges import ATTRIBUTE_BADGES, BADGES, NEW_PRODUCT
from ranking.built_aside import BuiltAside
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


STEADY = tuple(c for c in BADGES if c != NEW_PRODUCT)  # what does not depend on the request's time
NEW_BIT = 1 << BADGES.index(NEW_PRODUCT)
LISTS = tuple(tuple(c for j, c in enumerate(BADGES) if mask >> j & 1) for mask in range(1 << len(BADGES)))


class CardBadges:
    """:func:`badge_lists` of :func:`badge_matrix` for a page's cards, with every product's steady
    badges (all but ``new_product``) packed as bits once per version of their columns.

    A page read eight columns of its 20 cards and made a numpy row per card (~0.1 ms); now it
    gathers one byte per card and tests the listing time. Each column's bit is computed as
    :func:`badge_matrix` tests it, over every row of the product table (and, last, a product it
    does not know), again when that column, or the table's ids, is another object: the live catalog
    copies a changed column and swaps it in, so only that column's bit is computed anew. The bits
    are built in a background thread (:class:`~ranking.built_aside.BuiltAside`: 1.4 ms in full at
    50,000 products, about 20 times that at 1M); meanwhile a page computes its cards' badges with
    :func:`badge_matrix` itself, to the same lists."""

    def __init__(self) -> None:
        self._bits: BuiltAside[tuple[tuple[np.ndarray, ...], np.ndarray]] = BuiltAside("card-badges")

    def steady(self, products: EntityTable) -> np.ndarray:
        """Each product row's steady badges as bits of :data:`BADGES` order (an unknown product:
        last), built on this thread when they are not."""
        return self._bits.now(_sources(products), _build(products))[2]

    def prepare(self, products: EntityTable) -> None:
        """The bits of ``products`` built now, for the pages after it is swapped in
        (:meth:`~ranking.built_aside.BuiltAside.prepare`)."""
        self._bits.prepare(_sources(products), _build(products))

    def lists(self, products: EntityTable, at: tuple[np.ndarray, np.ndarray], now_ms: int,
              new_product_days: float) -> list[list[str]]:
        """Each located row's badge codes (``at``: :func:`located` rows of ``products``), the same as
        ``badge_lists(badge_matrix(...))``."""
        safe, known = at
        built = self._bits.ready(_sources(products), _build(products))
        if built is None:  # built aside after a catalog change: this page computes its own
            rows = np.where(known, safe, -1)
            matrix = badge_matrix(products, products.ids[safe], now_ms, new_product_days, rows=rows)
            return badge_lists(matrix)
        steady = built[2]
        masks = steady[np.where(known, safe, len(steady) - 1)].astype(np.int64)
        if "listed_at" in products.columns:
            listed = products.take_located("listed_at", at, missing=np.nan)
            masks |= np.where((now_ms - listed) < new_product_days * DAY_MS, NEW_BIT, 0)
        return [list(LISTS[m]) for m in masks.tolist()]


BadgeBits = tuple[tuple[Any, ...], tuple[np.ndarray, ...], np.ndarray]  # sources, each column's bit, combined


def _sources(products: EntityTable) -> tuple[Any, ...]:
    return (products.ids, *(products.columns.get(c) for c in STEADY))


def _build(products: EntityTable):
    """Every row's steady bits; a column that is the same object as in ``last``'s sources keeps its bit."""
    def build(sources: tuple[Any, ...], last: BadgeBits | None) -> BadgeBits:
        ids, columns = sources[0], sources[1:]
        rows = np.r_[np.arange(len(ids)), -1]
        bits = []
        for j, (code, column) in enumerate(zip(STEADY, columns, strict=True)):
            if last is not None and last[0][0] is ids and last[0][1 + j] is column:
                bits.append(last[1][j])  # this column did not change
                continue
            one = (products.take_located(code, located(rows), missing=np.nan) > 0 if column is not None
                   else np.zeros(len(rows), dtype=bool))  # badge_matrix's test of the column
            bits.append(one.astype(np.uint8) << BADGES.index(code))
        combined = np.bitwise_or.reduce(bits) if bits else np.zeros(len(rows), dtype=np.uint8)
        return sources, tuple(bits), combined
    return build
