"""What cold start reads of a product besides its listing time, for every product of a table at
once: its store's opening time (or new-store flag), its leaf's order and click rates and its
bundle counts, kept per version of the arrays they come from.

A request used to look its candidates' stores up in the store table, their leaves up in the
leaf rates and their counts up in the product table (about 15 numpy calls, ~0.15 ms of a
homepage); these are the same for every request until the catalog changes, so
:class:`ProductFactsTable` computes them for every row of the product table (and, last, for a
product the table does not know) with the very functions a request used, and a request gathers
its candidates' rows. The table is built anew when any array it reads is another object: the
live catalog never writes into a served array, it copies a changed column and swaps the table
whole. A request reading one version while another is built reads a consistent pair (the memo
is one tuple, replaced at once). It is built in a background thread: meanwhile a request computes
its candidates' facts itself, as before the table (:func:`~ranking.cold_start.view.cold_start_view`,
the same values). Every pipeline serving a snapshot reads the same product table, so they share
one table (:func:`snapshot_facts`, kept in ``snapshot.derived``): the engine's warm-up built five
identical copies before (0.3-0.45 s of CPU each at 1M products). 50,000 products: 50,001 x 5
float64 and one more column, 2.4 MB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ranking.built_aside import BuiltAside
from ranking.cold_start.newness import store_facts
from ranking.cold_start.posterior import COUNTS, LeafRates, leaf_rates, nan_to
from ranking.features.snapshot import EntityTable, FeatureSnapshot

NUMBERS = ("leaf_order_rate", "leaf_click_rate", *COUNTS)
FACTS_KEY = "cold_start_facts"  # the snapshot's one ProductFactsTable, in ``snapshot.derived``


@dataclass
class ProductFacts:
    """Per product row: its store's ``opened_at`` (None: the store table has none) or else its
    ``new_store`` flag (None: neither), and :data:`NUMBERS` (one row each)."""

    opened: np.ndarray | None
    flag: np.ndarray | None
    numbers: np.ndarray

    @classmethod
    def of(cls, products: EntityTable, stores: EntityTable, rows: np.ndarray, rates: LeafRates
           ) -> ProductFacts:
        """The facts of ``rows`` of ``products`` (-1: a product the table does not know)."""
        return cls(*store_facts(products, stores, rows), numbers(products, rows, rates))


def numbers(products: EntityTable, rows: np.ndarray, rates: LeafRates) -> np.ndarray:
    """(len(rows), 5): :data:`NUMBERS` of ``rows`` of ``products`` (-1: unknown) with these leaf
    rates; the counts as :func:`~ranking.cold_start.posterior.bundle_counts` reads them."""
    leaf = products.take("category_id", rows, missing=-1)
    order_rate, click_rate = rates.rates(nan_to(leaf, nan=-1).astype(np.int64))
    counts = [nan_to(products.take(c, rows, missing=0.0)) if c in products.columns else np.zeros(len(rows))
              for c in COUNTS]
    return np.stack([order_rate, click_rate, *counts], axis=1)


def _sources(products: EntityTable, stores: EntityTable) -> tuple[Any, ...]:
    """Every array the facts are read from (None: absent)."""
    return (products.ids, *(products.columns.get(c) for c in ("store_id", "category_id", *COUNTS)),
            stores.ids, stores.columns.get("opened_at"), stores.columns.get("new_store"))


class ProductFactsTable:
    """The :class:`ProductFacts` of every row of the product table last asked about and then of an
    unknown product (its last row), built once per version of what they are read from, in a
    background thread on the request path (:class:`~ranking.built_aside.BuiltAside`)."""

    def __init__(self) -> None:
        self._table: BuiltAside[ProductFacts] = BuiltAside("cold-start-facts")

    def ready(self, products: EntityTable, stores: EntityTable, strength: float) -> ProductFacts | None:
        """The facts of ``products`` (their stores in ``stores``) with the leaf rates' prior
        ``strength``, or None while they are built aside (the request computes its own)."""
        return self._table.ready((*_sources(products, stores), strength), _build(products, stores, strength))

    def prepare(self, products: EntityTable, stores: EntityTable, strength: float) -> None:
        """The facts of ``products`` built now, for the requests after it is swapped in
        (:meth:`~ranking.built_aside.BuiltAside.prepare`)."""
        self._table.prepare((*_sources(products, stores), strength), _build(products, stores, strength))

    def of(self, products: EntityTable, stores: EntityTable, strength: float) -> ProductFacts:
        """:meth:`ready`, built on this thread when it is not."""
        return self._table.now((*_sources(products, stores), strength), _build(products, stores, strength))


def snapshot_facts(snapshot: FeatureSnapshot) -> ProductFactsTable:
    """The one :class:`ProductFactsTable` every pipeline serving ``snapshot`` shares (each
    version of its arrays is built once, whichever pipeline asks first)."""
    table = snapshot.derived.get(FACTS_KEY)
    if table is None:  # setdefault: two first askers on two threads get the same table
        table = snapshot.derived.setdefault(FACTS_KEY, ProductFactsTable())
    return table


def _build(products: EntityTable, stores: EntityTable, strength: float):
    def build(sources: tuple, last: ProductFacts | None) -> ProductFacts:
        rows = np.r_[np.arange(len(products.ids)), -1]
        return ProductFacts.of(products, stores, rows, leaf_rates(products, strength))
    return build
