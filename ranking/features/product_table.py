"""One product table's per-product feature values (built by :mod:`ranking.features.per_product`).

Its own module so :class:`~ranking.features.inputs.FeatureInputs` can hold one without
importing the registry that builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot


@dataclass(frozen=True)
class ProductFeatureTable:
    """Per-product feature values of every row of ``products``, plus one row for a product the
    table does not hold (the last: a product row of -1 indexes it, as numpy reads -1)."""

    products: EntityTable
    stores: EntityTable
    names: tuple[str, ...]  # the per-product features, in the order of the matrix's columns
    matrix: np.ndarray  # (P + 1, len(names)) float32, defaults filled
    store_row: np.ndarray  # (P + 1,) int64: each product's row in ``stores``, -1 unknown
    leaf: np.ndarray  # (P + 1,) int64: each product's leaf index, -1 unknown

    def holds(self, snapshot: FeatureSnapshot, names: tuple[str, ...]) -> bool:
        """Whether this table is the one for the snapshot's current tables and ``names``."""
        return (self.products is snapshot.products and self.stores is snapshot.stores
                and self.names == names)
