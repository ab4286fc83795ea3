"""A known product's title, brand or category changed: re-indexed in the running engine, no rebuild.

``retext_products(engine, rows)`` takes catalog change rows (``product_id`` and any of
``title``, ``brand_id``, ``category_id``; other fields are the catalog overlay's) and, for the
products the engine knows whose text differs from what it serves, builds aside, with the
building blocks of new products (:mod:`ranking.live.new_products`):

* their search index rows: BM25 weights from the new words with the bundle's **frozen**
  statistics (document count, document frequency, average length, as new products use: no
  other product's weight moves, and the changed product's old words keep counting in the
  frequencies), and their dense vectors from the bundle's own encoder
  (:func:`~ranking.live.new_product_search.replace_search`);
* their catalog-text rows (tokens, bigrams, BM25: the ``lexical_score`` and word features);
* the cards' titles (``engine.catalog``);
* their ``snapshot.products`` columns: ``brand_id``, ``big_brand`` (as the brand's other
  products say), ``category_id``, ``top_category_id`` and ``log_price_vs_category`` against
  the new leaf's median log price;
* on a category change, their place in the homepage's per-leaf lists
  (:mod:`ranking.live.known_product_leaf`).

Then it swaps references once per batch (copy-on-write, under the engine's new-products
lock): cards, search, homepage, catalog text, product table. A request that straddles the
swaps may read the old title in one part and the new in another, never a half-built part.
Applying the same rows again finds nothing changed (or, after an engine's product table was
replaced by a fresh one, rebuilds the same rows): a feed that delivers twice is safe.

Not changed until the next bundle: the product's scores (product score, ``product_price``
percentile among its leaf, CTR/CVR), its comparable group's other prices, the leaf's words
and the frozen statistics; its co-interaction vector (personal, similar sources).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ranking.catalog import CardCatalog
from ranking.features.snapshot import EntityTable
from ranking.live.known_product_leaf import move_to_leaf
from ranking.live.new_product_listing import first_by_key, leaf_median
from ranking.live.new_product_search import replace_search
from ranking.live.new_product_text import catalog_text_rows, product_texts, replace_rows
from ranking.live.new_products import (
    CatalogBatch,
    FrozenState,
    frozen_state,
    homepage_of,
    prepare,
    publish,
    search_of,
    switch_interval,
)
from ranking.row_lookup import RowLookup

if TYPE_CHECKING:
    from ranking.engine import Engine

TEXT_FIELDS = ("title", "brand_id", "category_id")


@dataclass
class TextChanges:
    """The changed products' ids and their text fields after the change, row-aligned."""

    ids: np.ndarray
    titles: list[str]
    brands: np.ndarray
    categories: np.ndarray
    moved: np.ndarray  # whether the category changed

    def __len__(self) -> int:
        return len(self.ids)


def text_changes(engine: Engine, rows: list[dict]) -> TextChanges:
    """Of these rows (the last of each id), the known products whose title, brand or category
    differs from the engine's."""
    latest = {int(r["product_id"]): r for r in rows if any(f in r for f in TEXT_FIELDS)}
    ids = np.fromiter(latest, np.int64, len(latest))
    snap = engine.snapshot
    prow = snap.products.rows(ids)
    ids, prow = ids[prow >= 0], prow[prow >= 0]
    titles_now = engine.catalog.titles_of(ids)
    brands_now = snap.products.take("brand_id", prow, -1).astype(np.int64)
    cats_now = snap.products.take("category_id", prow, -1).astype(np.int64)
    titles = [str(latest[p].get("title", t)) for p, t in zip(ids.tolist(), titles_now, strict=True)]
    brands = np.array([int(latest[p].get("brand_id", b)) for p, b in zip(ids.tolist(), brands_now.tolist(),
                                                                          strict=True)], np.int64)
    cats = np.array([int(latest[p].get("category_id", c)) for p, c in zip(ids.tolist(), cats_now.tolist(),
                                                                          strict=True)], np.int64)
    changed = (np.array(titles, dtype=object) != titles_now) | (brands != brands_now) | (cats != cats_now)
    changed = np.asarray(changed, bool)
    return TextChanges(ids[changed], [t for t, c in zip(titles, changed, strict=True) if c], brands[changed],
                       cats[changed], (cats != cats_now)[changed])


def retitled_catalog(old: CardCatalog, ids: np.ndarray, titles: list[str]) -> CardCatalog:
    """A card catalog whose products ``ids`` (known to it) show these titles."""
    pos = np.searchsorted(old.product_ids, ids)
    ok = (pos < len(old.product_ids)) & (old.product_ids[np.minimum(pos, len(old.product_ids) - 1)] == ids)
    out = old.titles.copy()
    out[pos[ok]] = np.array(titles, dtype=object)[ok]
    return CardCatalog(old.product_ids, out, old.store_ids, old.store_names)


def recategorised_products(table: EntityTable, rows: np.ndarray, change: TextChanges) -> EntityTable:
    """``table`` with the brand and category columns of these rows set from ``change``."""
    cols = dict(table.columns)
    category = np.asarray(cols["category_id"], np.int64)
    brand = np.asarray(cols["brand_id"], np.int64)
    values = {"brand_id": change.brands.astype(np.float64),
              "category_id": change.categories.astype(np.float64)}
    if "big_brand" in cols:
        big = np.asarray(cols["big_brand"], np.float64)
        values["big_brand"] = first_by_key(brand, big, change.brands, 0.0)
    if "top_category_id" in cols:
        tops = np.asarray(cols["top_category_id"], np.float64)
        top = first_by_key(category, tops, change.categories, np.nan)
        values["top_category_id"] = np.where(np.isnan(top), change.categories, top)
    if "log_price_vs_category" in cols and change.moved.any():
        logp = np.log(np.maximum(np.asarray(cols["price"], np.float64), 0.01))
        median = leaf_median(logp, category, change.categories, np.ones(len(logp), bool))
        moved = logp[rows] - np.nan_to_num(median, nan=0.0)
        values["log_price_vs_category"] = np.where(change.moved, moved, cols["log_price_vs_category"][rows])
    for name, new in values.items():
        column = cols[name].copy()
        column[rows] = new.astype(column.dtype)
        cols[name] = column
    return EntityTable(table.ids, cols)


def _build(engine: Engine, state: FrozenState, change: TextChanges) -> CatalogBatch:
    snap = engine.snapshot
    rows = snap.products.rows(change.ids)
    leaves = snap.leaf_of_category(change.categories)
    own, docs, texts = product_texts(snap.text, state.words, change.titles, change.brands, change.categories)
    made = catalog_text_rows(snap.text, own, change.categories, leaves, state.words, state.text_stats)
    text = made.text
    text.product_tokens = replace_rows(snap.text.product_tokens, rows, made.tokens)
    text.product_bigrams = replace_rows(snap.text.product_bigrams, rows, made.bigrams)
    text.product_bm25 = replace_rows(snap.text.product_bm25, rows, made.bm25)
    products = recategorised_products(snap.products, rows, change)
    batch = CatalogBatch(products=products, text=text,
                         catalog=retitled_catalog(engine.catalog, change.ids, change.titles))
    search = search_of(engine)
    if search is not None:
        held = RowLookup(search.product_ids).rows(change.ids) >= 0
        kept = np.flatnonzero(held).tolist()
        batch.search = replace_search(search, change.ids[held], [docs[i] for i in kept],
                                      [texts[i] for i in kept], state.search_stats)
    homepage = homepage_of(engine)
    if homepage is not None and change.moved.any():
        hrow = RowLookup(homepage.product_ids).rows(change.ids[change.moved])
        ok = hrow >= 0
        batch.homepage = move_to_leaf(homepage.a, products, hrow[ok], leaves[change.moved][ok])
    return batch


def retext_products(engine: Engine, rows: list[dict]) -> int:
    """Re-index the known products of these change rows whose title, brand or category changed;
    how many (see the module docstring)."""
    if not rows:
        return 0
    state = frozen_state(engine)
    with state.lock, switch_interval(engine.settings.live.new_products_switch_interval_ms):
        prepare(engine, state)  # the bundle's statistics and leaf words, before any text changes
        change = text_changes(engine, rows)
        if not len(change):
            return 0
        publish(engine, _build(engine, state, change))
        return len(change)
