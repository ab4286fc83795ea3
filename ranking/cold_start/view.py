"""One request's view of cold start over some products: which are new, their posteriors (the
bundle's counts plus the live last day's) and their stages.

The leaf rates are the bundle's and are computed once per product table (the live catalog
swaps the table whole when it lists a product, and the rates are then computed anew).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ranking.cold_start.newness import listed_at, newness, store_facts
from ranking.cold_start.posterior import COUNTS, LeafRates, Posteriors, leaf_rates, posteriors
from ranking.cold_start.product_facts import ProductFacts, numbers
from ranking.cold_start.stages import STAGES, stages
from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.settings import ColdStartSettings

LIVE_COUNTS = ("day_impressions", "day_clicks", "day_orders")


def _empty(dtype: Any = np.float64) -> np.ndarray:
    """A read-only empty array (shared by every view of no new product)."""
    out = np.zeros(0, dtype=dtype)
    out.flags.writeable = False
    return out


# the view of products none of which is new: what the posteriors and stages of no products are
# (float64 and the stages' dtype), without the ~30 numpy calls that compute them (~0.1 ms a page,
# nearly all of cold start's cost on a page without a new candidate)
_NO_POSTERIORS = Posteriors(*(_empty() for _ in range(8)))
_NO_STAGES = _empty(np.asarray(STAGES).dtype)


@dataclass
class ColdStartView:
    """Per product asked about: new (either reason), why, and for the new ones their posteriors
    and stage (``rows`` index the new ones among the products asked about)."""

    new: np.ndarray
    new_product: np.ndarray
    new_store: np.ndarray
    rows: np.ndarray
    posterior: Posteriors
    stage: np.ndarray


class LeafRateCache:
    """The leaf rates of the product table last asked about (:func:`leaf_rates`: computed once per
    version of its columns, shared by every pipeline and prepared by the live catalog before a
    swap); the last answer kept for the same columns it reads (the leaf and the three counts, by
    identity: a changed column is a new object) and strength, four identity checks a request; kept
    as one value, so a request reading it while a swap replaces it sees one answer whole."""

    def __init__(self) -> None:
        # (columns, strength, rates): one value, replaced whole, read once a request
        self._kept: tuple | None = None

    def of(self, snapshot: FeatureSnapshot, strength: float) -> LeafRates:
        cols = snapshot.products.columns
        columns = (cols.get("category_id"), *(cols.get(c) for c in COUNTS))
        kept = self._kept
        if kept is not None and kept[1] == strength \
                and all(a is b for a, b in zip(columns, kept[0], strict=True)):
            return kept[2]
        rates = leaf_rates(snapshot.products, strength)
        self._kept = (columns, strength, rates)
        return rates


def live_counts(live_signals: Any, product_ids: np.ndarray, now_ms: int) -> tuple[np.ndarray, ...]:
    """The live last day's (impressions, clicks, orders) of products; zeros without a live state."""
    zeros = tuple(np.zeros(len(product_ids)) for _ in LIVE_COUNTS)
    if live_signals is None or not len(product_ids):
        return zeros
    signals = live_signals(np.asarray(product_ids, np.int64), now_ms)
    return tuple(np.asarray(signals.get(k, z), np.float64) for k, z in zip(LIVE_COUNTS, zeros, strict=True))


def cold_start_view(snapshot: FeatureSnapshot, product_ids: np.ndarray, now_ms: int, live_signals: Any,
                    settings: ColdStartSettings, rates: LeafRates) -> ColdStartView:
    """Cold start's view of ``product_ids`` at ``now_ms`` (``live_signals``: the request's reader of
    the live counters, or None)."""
    product_ids = np.asarray(product_ids, np.int64)
    products = snapshot.products  # read once (the live catalog swaps it whole), rows looked up once
    p_rows = products.rows(product_ids)
    new_product, new_store = newness(listed_at(products, p_rows),
                                     *store_facts(products, snapshot.stores, p_rows), now_ms, settings)
    return _view(product_ids, new_product, new_store, lambda rows: numbers(products, p_rows[rows], rates),
                 now_ms, live_signals, settings)


def table_view(products: EntityTable, product_ids: np.ndarray, at: tuple[np.ndarray, np.ndarray],
               now_ms: int, live_signals: Any, settings: ColdStartSettings, facts: ProductFacts
               ) -> ColdStartView:
    """:func:`cold_start_view` with the products' rows of ``products`` already located (``at``:
    :func:`~ranking.features.snapshot.located`) and the facts of every row of that same table
    (:class:`~ranking.cold_start.product_facts.ProductFactsTable`): the same view, gathered."""
    safe, known = at
    index = np.where(known, safe, len(facts.numbers) - 1)  # an unknown product: the facts' last row
    listed = (products.take_located("listed_at", at) if "listed_at" in products.columns
              else np.full(len(safe), np.nan))
    new_product, new_store = newness(
        listed, None if facts.opened is None else facts.opened[index],
        None if facts.flag is None else facts.flag[index], now_ms, settings)
    return _view(np.asarray(product_ids, np.int64), new_product, new_store,
                 lambda rows: facts.numbers[index[rows]], now_ms, live_signals, settings)


def _view(product_ids: np.ndarray, new_product: np.ndarray, new_store: np.ndarray,
          numbers_of: Callable[[np.ndarray], np.ndarray], now_ms: int, live_signals: Any,
          settings: ColdStartSettings) -> ColdStartView:
    """The view from newness and ``numbers_of(rows)``: the new ones' ProductFacts numbers."""
    new = new_product | new_store
    rows = np.flatnonzero(new)
    if not len(rows):  # nothing new (most pages once the catalog's newest listings age): the same
        return ColdStartView(new, new_product, new_store, rows, _NO_POSTERIORS, _NO_STAGES)  # empty view
    ids = product_ids[rows]
    order_rate, click_rate, b_imps, b_clicks, b_orders = numbers_of(rows).T
    l_imps, l_clicks, l_orders = live_counts(live_signals, ids, now_ms)
    post = posteriors(order_rate, click_rate, b_imps + l_imps, b_clicks + l_clicks, b_orders + l_orders,
                      settings.prior_strength)
    return ColdStartView(new, new_product, new_store, rows, post, stages(post, settings))
