"""The per-product features of a whole product table, computed once and gathered per request.

About 36 of the features read only the candidate's product row and its store's row (product
score and dimensions, offer flags, price features, store scores, creator reputation: the
features of :data:`PER_PRODUCT_MODULES`). Serving computed each of them per request, one
column gather and one float conversion per feature (``python -m bench.request_components``:
about 80 ``EntityTable.take_located`` calls, 1-2 ms of a page). A
:class:`~ranking.features.product_table.ProductFeatureTable` holds them for every row of one
product table, already float32 with their defaults filled, so a request's
``compute_features`` takes them with ONE gather
(``matrix[product_row]``); it also keeps each product's store row and leaf, which
``build_inputs`` looked up per request.

The values are those :func:`~ranking.features.registry.compute_features` makes for the same
rows: the table is built by it, over every row at once (elementwise, so row by row alike).

Validity: a table is built from one products :class:`~ranking.features.snapshot.EntityTable`
and one stores table and holds them; :func:`product_feature_table` rebuilds it when the
snapshot holds another object. Nothing changes a table in place: the live catalog's overlay
(prices, stock, offers, bans: :func:`ranking.live.catalog_overlay.overlay_products`) and new
products (:mod:`ranking.live.new_products`) swap in a new products table, and a score refresh is
a new bundle with a new snapshot, so each invalidates the table by being another object.
Training (a product column ``as_of`` its request) does not use it. The pipeline asks through
:func:`ready_product_feature_table`, which builds a stale table in a background thread and lets
the request meanwhile compute the features itself, so a catalog change costs no request a build.
The live catalog's follower prepares the table of the product table it is about to swap in
(:func:`prepare_product_feature_table`: the current table with the rows whose product columns
changed computed again, row by row alike) and hands it to the readers with the swap, so a change
of a few products costs neither a build aside (~0.9-1.3 s of CPU at 1M products) nor pages that
compute these features themselves meanwhile.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator

import numpy as np

from ranking.features.inputs import FeatureInputs, no_queries
from ranking.features.product_table import ProductFeatureTable
from ranking.features.registry import Feature, compute_features, features
from ranking.features.snapshot import EntityTable, FeatureSnapshot

# the definition modules whose features read only the candidate's product and store rows
# (tests/test_per_product_features.py checks each against other users, hours, surfaces, queries)
PER_PRODUCT_MODULES = ("product_features", "offer_features", "price_features", "store_features",
                       "creator_features")
CACHE_KEY = "per_product_features"
PREPARED_KEY = "per_product_features_prepared"  # the table of the product table about to be swapped in
BUILD_LOCK_KEY = "per_product_features_building"
log = logging.getLogger("shelfrank.features")
_ASIDE = threading.local()  # .off: this thread's pages start no build aside (:func:`no_builds_aside`)


def is_per_product(f: Feature) -> bool:
    """Whether ``f`` reads only its candidate's product row and that product's store row."""
    return f.compute.__module__.rsplit(".", 1)[-1] in PER_PRODUCT_MODULES


def per_product_names(names: list[str] | None = None) -> tuple[str, ...]:
    """The per-product features among ``names`` (None: every feature), in their order."""
    return _per_product_names(None if names is None else tuple(names))


@functools.lru_cache(maxsize=16)  # a request asks for the model's names: one lookup, not a registry walk
def _per_product_names(names: tuple[str, ...] | None) -> tuple[str, ...]:
    chosen = {f.name for f in features() if is_per_product(f)}
    return tuple(n for n in (names if names is not None else [f.name for f in features()])
                 if n in chosen)


def product_feature_table(snapshot: FeatureSnapshot, names: list[str] | None = None
                          ) -> ProductFeatureTable:
    """The table of the snapshot's current product and store tables for the per-product features
    among ``names``, built on the first call after either table was swapped (module docstring).
    Two threads may both build it after a swap; either result is the same."""
    wanted = per_product_names(names)
    cached = snapshot.derived.get(CACHE_KEY)
    if cached is not None and cached.holds(snapshot, wanted):
        return cached
    built = build_product_feature_table(snapshot, wanted)
    snapshot.derived[CACHE_KEY] = built
    return built


def ready_product_feature_table(snapshot: FeatureSnapshot, names: list[str] | None = None
                                ) -> ProductFeatureTable | None:
    """The request path's view: the current table, or None while it is (re)built in a background
    thread, so no request waits for a build (about 30-70 ms for 50,000 products on the loaded
    2-core machine, after every catalog change the follower lays over the table). With None, the
    request computes these features itself, to the same values. One build per snapshot at a time;
    none on a thread inside :func:`no_builds_aside`."""
    wanted = per_product_names(names)
    cached = snapshot.derived.get(CACHE_KEY)
    if cached is not None and cached.holds(snapshot, wanted):
        return cached
    prepared = snapshot.derived.get(PREPARED_KEY)  # swapped in a moment ago, not yet installed
    if prepared is not None and prepared.holds(snapshot, wanted):
        return prepared
    if getattr(_ASIDE, "off", False):
        return None
    building = _build_lock(snapshot)
    if building.acquire(blocking=False):
        threading.Thread(target=_build_aside, args=(snapshot, wanted, building), daemon=True,
                         name="per-product-features").start()
    return None


def built_product_feature_table(snapshot: FeatureSnapshot, names: list[str] | None = None
                                ) -> ProductFeatureTable:
    """The table of the snapshot's current tables, built on this thread if it is not; a build
    aside that is running is waited for first (it may have been started for tables since
    swapped). For the worker's start-up, after the live catalog's first overlay swapped the
    product table the warm-up's table was built for: the worker is ready only once it holds
    the table of what it serves, so its first pages neither compute these features themselves
    nor run beside a build of every product's row (about 1.6 s of CPU at 1M products)."""
    building = _build_lock(snapshot)
    with building:
        return product_feature_table(snapshot, names)


@contextlib.contextmanager
def no_builds_aside() -> Iterator[None]:
    """Pages ranked on this thread meanwhile compute the per-product features themselves when the
    table is not built, and start no build aside: for an engine's warm-up, whose product table the
    service's live catalog overlay may swap right after (a reload's 1M table, ~1.2 s of CPU, was
    built aside for the bundle's table and then again for the overlaid one); the service builds
    the table of the table it serves (``Engine.build_tables``)."""
    before = getattr(_ASIDE, "off", False)
    _ASIDE.off = True
    try:
        yield
    finally:
        _ASIDE.off = before


def _build_lock(snapshot: FeatureSnapshot) -> threading.Lock:
    """The snapshot's one lock of a table build (aside or on a start-up's thread)."""
    return snapshot.derived.setdefault(BUILD_LOCK_KEY, threading.Lock())


def _build_aside(snapshot: FeatureSnapshot, wanted: tuple[str, ...], building: threading.Lock) -> None:
    """Build until the table holds the snapshot's tables (they may be swapped again meanwhile; at
    most three tries, the next request starts another), then let the next build start."""
    try:
        for _ in range(3):
            cached = snapshot.derived.get(CACHE_KEY)
            if cached is not None and cached.holds(snapshot, wanted):
                return
            snapshot.derived[CACHE_KEY] = build_product_feature_table(snapshot, wanted)
    except Exception:  # the requests keep computing the features themselves
        log.exception("per-product feature table not built")
    finally:
        building.release()


def prepare_product_feature_table(snapshot: FeatureSnapshot, products: EntityTable) -> bool:
    """Before the live catalog swaps ``products`` (the overlay of the snapshot's product table: the
    same ids, some columns new objects) into the snapshot: keep the table of ``products``, made
    from the current one by computing again only the rows whose values differ in a new column, for
    the readers to take once it is swapped in (:func:`install_prepared_table` after the swap).
    False (nothing prepared: the next page builds aside, as before) when there is no current
    table, the ids, the column names, a store or category column or the dtype of a column differ,
    or more than half the rows changed."""
    snapshot.derived.pop(PREPARED_KEY, None)
    cached = snapshot.derived.get(CACHE_KEY)
    old = snapshot.products
    if cached is None or cached.products is not old or cached.stores is not snapshot.stores:
        return False
    rows = _changed_rows(old, products)
    if rows is None:
        return _prepare_appended(snapshot, cached, products)
    if len(rows) > len(old.ids) // 2:
        return False
    matrix = cached.matrix.copy()
    if len(rows) and cached.names:
        matrix[rows] = _features_of_rows(snapshot, products, rows, cached.names)[0]
    snapshot.derived[PREPARED_KEY] = ProductFeatureTable(products, cached.stores, cached.names, matrix,
                                                         cached.store_row, cached.leaf)
    return True


def _prepare_appended(snapshot: FeatureSnapshot, cached: ProductFeatureTable, products: EntityTable) -> bool:
    """:func:`prepare_product_feature_table` of ``products`` holding the cached table's products
    and new ones appended (:mod:`ranking.live.new_products`): the cached rows kept, the new rows
    (and the unknown product's) computed; False when ``products`` is not that."""
    new_rows = _appended_rows(cached.products, products)
    if new_rows is None:
        return False
    matrix, s_row, leaf = _features_of_rows(snapshot, products, np.r_[new_rows, -1], cached.names)
    n = len(cached.products.ids)
    snapshot.derived[PREPARED_KEY] = ProductFeatureTable(
        products, cached.stores, cached.names, np.r_[cached.matrix[:n], matrix].astype(np.float32),
        np.r_[cached.store_row[:n], s_row].astype(np.int64), np.r_[cached.leaf[:n], leaf].astype(np.int64))
    return True


def _appended_rows(old: EntityTable, new: EntityTable) -> np.ndarray | None:
    """The rows of ``new`` after ``old``'s when ``new`` is ``old`` with rows appended (the same
    ids first, the same columns and dtypes, every old row's value the same, bit for bit); None
    otherwise."""
    n = len(old.ids)
    if len(new.ids) <= n or old.columns.keys() != new.columns.keys() \
            or not np.array_equal(old.ids, new.ids[:n]):
        return None
    for name, column in new.columns.items():
        before = old.columns[name]
        if before.ndim != 1 or _as_bits(column) is None or column.dtype != before.dtype \
                or not np.array_equal(_as_bits(column[:n]), _as_bits(before)):
            return None
    return np.arange(n, len(new.ids), dtype=np.int64)


def _as_bits(column: np.ndarray) -> np.ndarray | None:
    """A one-dimensional column of numbers viewed as unsigned integers of its width (so values are
    compared bit for bit: NaNs and -0.0 included), or None for any other column."""
    size = column.dtype.itemsize
    if column.dtype.hasobject or column.ndim != 1 or size not in (1, 2, 4, 8):
        return None
    return np.ascontiguousarray(column).view(np.dtype(f"u{size}"))


def install_prepared_table(snapshot: FeatureSnapshot) -> None:
    """After the swap: the prepared table (:func:`prepare_product_feature_table`) is the table, when
    it holds the snapshot's tables now."""
    prepared = snapshot.derived.pop(PREPARED_KEY, None)
    if prepared is not None and prepared.holds(snapshot, prepared.names):
        snapshot.derived[CACHE_KEY] = prepared


def _changed_rows(old: EntityTable, new: EntityTable) -> np.ndarray | None:
    """The rows whose value differs, bit for bit, in some column of ``new`` that is another object
    than ``old``'s; None when a row's store or category, the ids or the columns' names or dtypes
    differ (what the table keeps besides the features: built anew). A store's first ban changes
    values of ``store_banned``, which the served table carries from the engine's load
    (:func:`~ranking.live.catalog_overlay.carrying_store_bans`): patched like any ban."""
    if (old.ids is not new.ids and not np.array_equal(old.ids, new.ids)) \
            or old.columns.keys() != new.columns.keys():
        return None
    changed = np.zeros(len(old.ids), bool)
    for name, column in new.columns.items():
        before = old.columns[name]
        if column is before:
            continue
        bits = _as_bits(column)
        if name in ("store_id", "category_id") or column.dtype != before.dtype or bits is None \
                or column.shape != before.shape:
            return None
        changed |= bits != _as_bits(before)
    return np.flatnonzero(changed)


def build_product_feature_table(snapshot: FeatureSnapshot, names: tuple[str, ...]) -> ProductFeatureTable:
    """Compute ``names`` for every product row of the snapshot (and the unknown row) as
    :func:`compute_features` does for a request's candidates."""
    products, stores = snapshot.products, snapshot.stores  # read once: another thread may swap them
    p_row = np.r_[np.arange(len(products.ids), dtype=np.int64), -1]
    matrix, s_row, leaf = _features_of_rows(snapshot, products, p_row, names, stores)
    return ProductFeatureTable(products, stores, names, matrix, s_row, leaf)


def _features_of_rows(snapshot: FeatureSnapshot, products: EntityTable, p_row: np.ndarray,
                      names: tuple[str, ...], stores: EntityTable | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``names`` of the product rows ``p_row`` of ``products`` (-1: the unknown product), each
    row's store row and leaf: the rows of a table's matrix."""
    stores = snapshot.stores if stores is None else stores
    n = len(p_row)
    # as build_inputs derives them from the product row
    store_ids = products.take("store_id", p_row, missing=-1).astype(np.int64)
    s_row = np.where(store_ids >= 0, stores.rows(store_ids), -1)
    category = products.take("category_id", p_row, missing=-1).astype(np.int64)
    leaf = np.where(category >= 0, snapshot.leaf_of_category(category), -1)
    view = FeatureSnapshot(snapshot.as_of_ms, products, stores, snapshot.users, snapshot.leaf_ids,
                           snapshot.leaf_theme_slot, snapshot.user_leaf_slot, snapshot.user_leaf,
                           snapshot.bought, snapshot.bought_leaf, snapshot.store_visits, snapshot.text,
                           snapshot.meta)
    none = np.full(n, -1, dtype=np.int64)
    zeros = np.zeros(n, dtype=np.int64)
    inputs = FeatureInputs(view, p_row, s_row, none, leaf, zeros, zeros.astype(np.int8), zeros, none,
                           no_queries(snapshot))
    matrix = compute_features(inputs, list(names)) if names else np.zeros((n, 0), np.float32)
    return matrix, s_row, leaf
