"""New products in a loaded engine, without a rebuild: searchable, rankable, on the homepage.

``add_products(engine, rows)`` takes ``products`` rows (the contract's shape,
:data:`ranking.contracts.tables.PRODUCTS`, validated by the caller) and adds the products
the engine does not know yet (known ones are skipped: updates are the catalog overlay's),
returning how many it added. For one batch it builds, aside from what requests read:

* the snapshot's product rows (:mod:`.new_product_listing`: what is known at listing time)
  and catalog-text rows with the bundle's frozen BM25 statistics (:mod:`.new_product_text`);
* the search index's BM25 rows and dense vectors in a cloned FAISS index
  (:mod:`.new_product_search`), and the spelling corrector over the grown vocabulary when
  the batch brought new words;
* the homepage recall's rows and ranked lists (:mod:`.new_product_homepage`);
* the cards' titles (``engine.catalog``; store names are the stores table's).

Then it swaps references, once per batch (copy-on-write): a request holds either the old
or the new object of each part, never a half-built one. Rows are only appended, so a row a
request found in an older table is the same product in a newer one, and the swaps run in
the order that keeps it so: cards, search, homepage, catalog text, and the snapshot's
product table last (what hands out product rows and decides ``KnownProducts``): until
then a new product's id can come out of recall but is dropped as unknown. An id below the
highest known one is appended like any other; tables then look ids up through a sorted
view (:class:`ranking.row_lookup.RowLookup`). One batch at a time per engine (a lock).

The batch's words and dense vectors (tokenising, the encoder's n-gram hashing: the Python
work that held the request threads' interpreter lock) are built in a worker process
(:mod:`.new_product_worker`, ``live.new_products_worker``; in process when it is off or cannot
answer) while this process builds the product, card and homepage rows; this process keeps
the look-ups of the batch's distinct words, the appends, the spelling corrector (grown from the
served one: only the batch's new targets expanded) and what the pages keep per product table
(both built before the swaps, not by the first pages after them), and the swaps. The search
index is swapped in as the served one with rows appended (its BM25 rows added by column, not
through rows and back), so a query's kept dense recall is carried to it
(:meth:`SearchRecall.replace_products`, exact).
While a batch runs, the thread switch interval is ``live.new_products_switch_interval_ms``
(0.5 ms, not 5), so a request thread waiting for the GIL waits a tenth as long each time.
Measured in docs/catalog.md ("Speed"; ``bench/bench_new_products.py``).
"""

from __future__ import annotations

import logging
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ranking.catalog import CardCatalog
from ranking.features.snapshot import CatalogText, EntityTable, FeatureSnapshot
from ranking.live.catalog_tables import prepare_swap, swapped
from ranking.live.new_product_homepage import append_homepage
from ranking.live.new_product_listing import listing_columns
from ranking.live.new_product_search import SearchAppend, append_search, bm25_settings, search_statistics
from ranking.live.new_product_text import CategoryWords, FrozenBm25, append_catalog_text, own_texts, text_rows
from ranking.live.new_product_words import batch_words
from ranking.live.new_product_worker import NewProductWorker
from ranking.recall.bundle_part import PART as RECALL_PART
from ranking.recall.bundle_part import search_folder
from ranking.recall.search import encoder_folder, speller_of

if TYPE_CHECKING:
    from ranking.engine import Engine
    from ranking.recall.homepage import HomepageRecall
    from ranking.recall.search import SearchRecall

log = logging.getLogger("shelfrank.catalog")
FIELDS = ("product_id", "store_id", "brand_id", "category_id", "comparable_group_id", "title", "price",
          "list_price", "stock", "subsidy", "banned", "listed_at")


@dataclass
class FrozenState:
    """Per engine: the bundle's statistics and category words, read at the first add."""

    lock: threading.Lock
    words: CategoryWords | None = None
    text_stats: FrozenBm25 | None = None
    search_stats: FrozenBm25 | None = None
    worker: NewProductWorker | None = None  # builds batches' words and vectors (live.new_products_worker)


_ENGINES: weakref.WeakKeyDictionary[Any, FrozenState] = weakref.WeakKeyDictionary()
_ENGINES_LOCK = threading.Lock()


def frozen_state(engine: Engine) -> FrozenState:
    """The engine's frozen statistics and lock (made at the first call; filled by the first add)."""
    with _ENGINES_LOCK:
        state = _ENGINES.get(engine)
        if state is None:
            state = _ENGINES[engine] = FrozenState(threading.Lock())
        return state


def search_of(engine: Engine) -> SearchRecall | None:
    return next((r.search for r in engine.recall if r.search is not None), None)


def homepage_of(engine: Engine) -> HomepageRecall | None:
    return next((r.homepage for r in engine.recall if r.homepage is not None), None)


def unknown_rows(engine: Engine, rows: list[dict]) -> pd.DataFrame:
    """The rows of products the engine does not know, the first of each id, in given order."""
    missing = [f for f in FIELDS if rows and f not in rows[0]]
    if missing:
        raise ValueError(f"products rows lack {', '.join(missing)}")
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys([*FIELDS, *rows[0]])))
    frame = frame.drop_duplicates("product_id", keep="first")
    known = engine.snapshot.products.rows(frame.product_id.to_numpy(np.int64)) >= 0
    return frame[~known].reset_index(drop=True)


def prepare(engine: Engine, state: FrozenState) -> None:
    """The bundle's statistics and category words, once per engine (before any add)."""
    if state.words is not None:
        return
    snap, search = engine.snapshot, search_of(engine)
    categories = np.asarray(snap.products.columns["category_id"], np.int64)
    search_category = None
    if search is not None:
        rows = snap.products.rows(search.product_ids)
        search_category = snap.products.take("category_id", rows, -1).astype(np.int64)
        state.search_stats = search_statistics(search.bm25, *bm25_settings(search))
    state.text_stats = FrozenBm25.of_binary(snap.text.product_tokens)
    state.words = CategoryWords.from_bundle(snap.text, categories, search.bm25.vocabulary if search else {},
                                            search.bm25.weights if search else None, search_category)


def _products_table(old: EntityTable, ids: np.ndarray, values: dict[str, np.ndarray]) -> EntityTable:
    """``old`` with rows for ``ids`` appended (a column ``old`` lacks gets -1 or NaN above them)."""
    columns: dict[str, np.ndarray] = {}
    for name in [*old.columns, *(n for n in values if n not in old.columns)]:  # the table's order
        new = values[name]
        before = old.columns.get(name)
        if before is None:
            fill = -1 if np.issubdtype(new.dtype, np.integer) else np.nan
            before = np.full(len(old.ids), fill, dtype=new.dtype)
        columns[name] = np.r_[before, new.astype(before.dtype)]
    return EntityTable(np.r_[old.ids, ids].astype(np.int64), columns)


def _card_catalog(old: CardCatalog, ids: np.ndarray, titles: np.ndarray) -> CardCatalog:
    all_ids = np.r_[old.product_ids, ids].astype(np.int64)
    order = np.argsort(all_ids, kind="stable")
    return CardCatalog(all_ids[order], np.r_[old.titles, titles].astype(object)[order], old.store_ids,
                       old.store_names)


@dataclass
class CatalogBatch:
    """One batch's new state, built aside from what requests read (new products here, a known
    product's new text in :mod:`ranking.live.known_product_text`), swapped in by :func:`publish`."""

    products: EntityTable
    text: CatalogText
    catalog: CardCatalog
    search: SearchAppend | None = None
    homepage: dict[str, np.ndarray] | None = None


def to_worker(engine: Engine, products: int) -> bool:
    """Whether a batch of this many new products goes to the worker process: at least
    ``live.new_products_worker_min_batch`` (smaller ones cost milliseconds in process)."""
    return products >= engine.settings.live.new_products_worker_min_batch


def start_worker(engine: Engine, state: FrozenState) -> None:
    """The engine's worker process (:mod:`.new_product_worker`), once, after :func:`prepare`, when
    ``live.new_products_worker`` is on; stopped by ``Engine.close`` or when the engine is collected."""
    live = engine.settings.live
    if state.worker is not None or not live.new_products_worker or state.words is None:
        return
    search = search_of(engine)
    folder = encoder_folder(search_folder(engine.bundle.path / RECALL_PART)) if search is not None else None
    if folder is not None and not folder.is_dir():
        log.warning("new products: no encoder in %s for the worker process; batches are built in process",
                    folder)
        return
    state.worker = NewProductWorker(folder, search.encoder if search is not None else None, state.words,
                                    live.new_products_worker_timeout_seconds, live.new_products_worker_nice)
    weakref.finalize(engine, state.worker.close)
    engine.closers.append(state.worker.close)  # Engine.close stops it (the engine knows no part of this)


def _build(engine: Engine, state: FrozenState, new: pd.DataFrame) -> CatalogBatch:
    snap: FeatureSnapshot = engine.snapshot
    ids = new.product_id.to_numpy(np.int64)
    categories = new.category_id.to_numpy(np.int64)
    leaves = snap.leaf_of_category(categories)
    titles = new.title.fillna("").astype(str).to_numpy(object)
    own = own_texts(snap.text, list(titles), new.brand_id.to_numpy(np.int64))
    # the words and vectors (:mod:`.new_product_words`) in the worker process, while this one builds
    # the rows that do not need them; here when there is no worker or it cannot answer
    pending = state.worker.submit(own, categories) if state.worker is not None and \
        to_worker(engine, len(own)) else None
    listing = listing_columns(snap, new, engine.settings.scores.price_advantage_clip)
    products = _products_table(snap.products, ids, listing)
    catalog = _card_catalog(engine.catalog, ids, titles)
    homepage = homepage_of(engine)
    home = append_homepage(homepage.a, products, snap.stores, ids, leaves) if homepage is not None else None
    search = search_of(engine)
    made = state.worker.result(pending) if pending is not None else None
    if made is None:
        made = batch_words(own, categories, state.words, search.encoder if search is not None else None)
    text = append_catalog_text(snap.text, text_rows(snap.text, made.features, made.bigrams, leaves,
                                                    state.text_stats))
    batch = CatalogBatch(products, text, catalog, homepage=home)
    if search is not None:
        batch.search = append_search(search, made.search, made.vectors, ids, state.search_stats)
    return batch


def publish(engine: Engine, batch: CatalogBatch) -> None:
    """Swap every part in, in the order of the module docstring; what the pages keep per product
    table (derived columns, the per-product feature table: :mod:`.catalog_tables`) built for the
    new one first, here, not by the first pages after the swap; so is the spelling corrector when
    the batch brought new words (they become spelling targets)."""
    search = search_of(engine)
    speller = speller_of(batch.search.bm25, engine.settings.recall, grown_from=search.speller) \
        if search is not None and batch.search is not None and batch.search.new_words else None
    prepare_swap(engine, engine.snapshot.products, batch.products)
    engine.catalog = batch.catalog
    if batch.search is not None and search is not None:
        batch.search.publish(search)
        if speller is not None:
            search.use_speller(speller)
    homepage = homepage_of(engine)
    if batch.homepage is not None and homepage is not None:
        homepage.replace_arrays(batch.homepage)
    engine.snapshot.text = batch.text
    engine.snapshot.products = batch.products
    swapped(engine)
    engine.forget_categories()


_SWITCH = {"depth": 0, "saved": 0.0}
_SWITCH_LOCK = threading.Lock()


@contextmanager
def switch_interval(ms: float) -> Iterator[None]:
    """The interpreter's thread switch interval at ``ms`` while inside (0: unchanged); the
    saved one is restored when the last of overlapping adds (several engines) leaves."""
    if ms <= 0:
        yield
        return
    with _SWITCH_LOCK:
        if _SWITCH["depth"] == 0:
            _SWITCH["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(ms / 1000)
        _SWITCH["depth"] += 1
    try:
        yield
    finally:
        with _SWITCH_LOCK:
            _SWITCH["depth"] -= 1
            if _SWITCH["depth"] == 0:
                sys.setswitchinterval(_SWITCH["saved"])


def add_products(engine: Engine, rows: list[dict]) -> int:
    """Add the products of these ``products`` rows that ``engine`` does not know; how many
    were added (see the module docstring). Raises ``ValueError`` when a row lacks a field."""
    if not rows:
        return 0
    state = frozen_state(engine)
    with state.lock, switch_interval(engine.settings.live.new_products_switch_interval_ms):
        new = unknown_rows(engine, rows)
        if new.empty:
            return 0
        prepare(engine, state)
        if to_worker(engine, len(new)):
            start_worker(engine, state)
        publish(engine, _build(engine, state, new))
        return len(new)
