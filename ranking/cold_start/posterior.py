"""Each new product's Beta posteriors on its order rate and click rate per impression.

**Prior: its leaf category.** The bundle's snapshot holds every product's counts over the
scores' window (``impressions_n``, ``clicks_n``, ``orders_n``; a bundle without them counts
nothing). A leaf's order rate is ``(orders in the leaf + s * mall rate) / (impressions in the
leaf + s)`` with ``s = cold_start.prior_strength`` (a leaf with little traffic leans on the
mall's rate), and likewise its click rate. A new product starts at ``Beta(s * r, s * (1 - r))``
with ``r`` its leaf's rate: the leaf's rate, worth ``s`` impressions of evidence.

**Evidence: its own counts.** The bundle's counts plus, when the service has a live state,
the live last day's (``RankRequest.live_signals``: ``day_impressions``, ``day_clicks``,
``day_orders``; the embedded and the Redis backend alike). Without a live state the posterior
is the bundle's and does not move between bundles. The bundle's window and the live day can
overlap when a bundle is less than a day old, and an event then counts twice (the posterior is
a little more confident than it should be; docs/cold_start.md).

``alpha = s * r + orders``, ``beta = s * (1 - r) + max(impressions - orders, 0)``.

Worked example: a leaf with 40 orders and 20,000 impressions in a mall at 0.2% gives
``r = (40 + 200 * 0.002) / (20,000 + 200) = 0.0020``; a new product of it with 300 impressions
and 3 orders has ``Beta(0.4 + 3, 199.6 + 297) = Beta(3.4, 496.6)``, mean 0.0068.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ranking.features.snapshot import EntityTable, FeatureSnapshot

COUNTS = ("impressions_n", "clicks_n", "orders_n")
BIG = float(np.finfo(np.float64).max)


def nan_to(x: np.ndarray, nan: float = 0.0) -> np.ndarray:
    """``np.nan_to_num(x, nan=nan)`` for float64 ``x`` (NaN -> ``nan``, +-inf -> the largest
    finite float), the same values without its Python overhead (3.0-5.6 us against 6.5-12.1 on
    200 rows, ``python -m bench.micro_costs``; several calls a request)."""
    x = np.asarray(x, np.float64)
    return np.where(np.isnan(x), nan, np.minimum(np.maximum(x, -BIG), BIG))


def _clip(x: np.ndarray, lo: float | np.ndarray, hi: float | np.ndarray) -> np.ndarray:
    """``np.clip(x, lo, hi)`` for ``lo <= hi`` as two ufuncs (1.1-1.4 us against np.clip's 2.1-2.2 on
    200 rows, ``python -m bench.micro_costs``)."""
    return np.minimum(np.maximum(x, lo), hi)


@dataclass
class LeafRates:
    """Order and click rates per leaf category, and the mall's, from the bundle's counts."""

    leaves: np.ndarray  # sorted leaf ids
    order_rate: np.ndarray
    click_rate: np.ndarray
    mall_order_rate: float
    mall_click_rate: float

    @classmethod
    def of(cls, snapshot: FeatureSnapshot, strength: float) -> LeafRates:
        """The rates of every leaf of ``snapshot``'s product table (``strength``: the mall's
        rate's weight, in impressions)."""
        return cls.of_table(snapshot.products, strength)

    @classmethod
    def of_table(cls, products: EntityTable, strength: float) -> LeafRates:
        """:meth:`of` a product table."""
        cols = products.columns
        leaf = np.asarray(cols["category_id"], np.int64)
        imps, clicks, orders = (np.nan_to_num(np.asarray(cols[c], np.float64)) if c in cols
                                else np.zeros(len(leaf)) for c in COUNTS)
        leaves, inverse = np.unique(leaf, return_inverse=True)
        i_leaf = np.bincount(inverse, imps, len(leaves))
        total = max(float(imps.sum()), 1e-9)
        mall_o, mall_c = float(orders.sum()) / total, float(clicks.sum()) / total
        o_leaf = np.bincount(inverse, orders, len(leaves))
        c_leaf = np.bincount(inverse, clicks, len(leaves))
        return cls(leaves, (o_leaf + strength * mall_o) / (i_leaf + strength),
                   (c_leaf + strength * mall_c) / (i_leaf + strength), mall_o, mall_c)

    def rates(self, leaf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(order rate, click rate) of each leaf id; a leaf the bundle does not hold gets the mall's."""
        leaf = np.asarray(leaf, np.int64)
        if not len(self.leaves):
            return np.full(len(leaf), self.mall_order_rate), np.full(len(leaf), self.mall_click_rate)
        pos = _clip(np.searchsorted(self.leaves, leaf), 0, len(self.leaves) - 1)
        known = self.leaves[pos] == leaf
        return (np.where(known, self.order_rate[pos], self.mall_order_rate),
                np.where(known, self.click_rate[pos], self.mall_click_rate))


@dataclass
class Posteriors:
    """Per product: Beta(alpha, beta) of the order rate and of the click rate, the counts
    they hold and the leaf's order rate (the prior mean)."""

    order_alpha: np.ndarray
    order_beta: np.ndarray
    click_alpha: np.ndarray
    click_beta: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray
    orders: np.ndarray
    leaf_order_rate: np.ndarray

    @property
    def order_mean(self) -> np.ndarray:
        return self.order_alpha / (self.order_alpha + self.order_beta)

    @property
    def click_mean(self) -> np.ndarray:
        return self.click_alpha / (self.click_alpha + self.click_beta)


def posteriors(order_rate: np.ndarray, click_rate: np.ndarray, impressions: np.ndarray, clicks: np.ndarray,
               orders: np.ndarray, strength: float) -> Posteriors:
    """The Beta posteriors of products with these prior rates and counts (module docstring)."""
    imps = np.maximum(np.asarray(impressions, np.float64), 0)
    clicks = _clip(np.asarray(clicks, np.float64), 0, imps)
    orders = _clip(np.asarray(orders, np.float64), 0, imps)
    r_o = _clip(order_rate, 1e-6, 1 - 1e-6)
    r_c = _clip(click_rate, 1e-6, 1 - 1e-6)
    return Posteriors(strength * r_o + orders, strength * (1 - r_o) + imps - orders,
                      strength * r_c + clicks, strength * (1 - r_c) + imps - clicks,
                      imps, clicks, orders, np.asarray(order_rate, np.float64))


def bundle_counts(snapshot: FeatureSnapshot, product_ids: np.ndarray, rows: np.ndarray | None = None
                  ) -> tuple[np.ndarray, ...]:
    """(impressions, clicks, orders) of products in the bundle's window (0 where unknown or not
    held: a product listed live, or a bundle built before cold start). ``rows``: the products'
    rows of the product table when the caller has them."""
    products = snapshot.products
    rows = products.rows(np.asarray(product_ids, np.int64)) if rows is None else rows
    return tuple(nan_to(products.take(c, rows, missing=0.0)) if c in products.columns
                 else np.zeros(len(rows)) for c in COUNTS)


RATES_KEPT = 4  # versions of a product table whose leaf rates are kept (a swap's old and new, two arms)
_KEPT: tuple = ()  # ((weak refs to the sources, strength, LeafRates), ...), newest first; replaced whole


def leaf_rates(products: EntityTable, strength: float) -> LeafRates:
    """:meth:`LeafRates.of_table`, computed once per version of the columns it reads (the leaf and
    the three counts, held weakly: a column is never written in place, a changed one is a new
    object) and ``strength``: the cold start selector of every pipeline, the product facts and the
    live catalog's preparation before a swap (``ranking/live/catalog_tables.py``) share it, so
    the rates of a table swapped in are computed once, before the swap (1.1 ms at 50,000
    products, the best of five calls: ``python -m bench.micro_costs --bundle BUNDLE``)."""
    global _KEPT
    sources = [products.columns.get(c) for c in ("category_id", *COUNTS)]
    for refs, kept_strength, rates in _KEPT:
        if kept_strength == strength and all((r() if r is not None else None) is c
                                             for r, c in zip(refs, sources, strict=True)):
            return rates
    rates = LeafRates.of_table(products, strength)
    refs = tuple(None if c is None else weakref.ref(c) for c in sources)
    _KEPT = ((refs, strength, rates), *[k for k in _KEPT if all(r is None or r() is not None for r in k[0])]
             )[:RATES_KEPT]
    return rates

