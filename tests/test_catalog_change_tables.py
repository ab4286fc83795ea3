"""A live catalog change builds what it invalidates before the swap, and patches what it can.

At 1M products every catalog change (a price, a stock-out, a ban) swapped in a product table and
an availability mask for which the next pages built what they keep per table: the homepage lists'
available rows (~35 ms on the first homepage), the derived columns reading a changed column (~5 ms
each) and the per-product feature table (~0.9-1.3 s of CPU aside, the pages computing those
features themselves meanwhile). The follower builds them now (``ranking/live/catalog_tables.py``,
``Availability.install``): the available rows and the feature table patched at the changed rows,
to the very arrays a build gives.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from started_worker import started_state
from test_start_tables import _kept_builds, _other_pages

from ranking.features import per_product
from ranking.features.per_product import (
    CACHE_KEY,
    PREPARED_KEY,
    build_product_feature_table,
    install_prepared_table,
    per_product_names,
    prepare_product_feature_table,
    product_feature_table,
)
from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.recall.homepage_sources import availability
from ranking.recall.homepage_sources.availability import Availability, Kept, flipped_rows, patched


def test_patched_available_rows_are_the_rows_a_build_gives() -> None:
    """Random lists (repeated rows, rows past the mask's end), pointers and flips: the patch of the
    old mask's rows equals a build under the new mask, array for array and dtype for dtype."""
    rng = np.random.default_rng(0)
    for _ in range(3000):
        n, m = int(rng.integers(0, 60)), int(rng.integers(0, 70))
        rows = rng.integers(0, n + 5, m) if rng.random() < 0.3 else rng.permutation(n + 3)[:m]
        rows = rows.astype(np.int64)
        cuts = np.sort(rng.integers(0, len(rows) + 1, int(rng.integers(0, 4))))
        ptr = None if rng.random() < 0.3 else np.r_[0, cuts, len(rows)].astype(np.int64)
        before = rng.random(n) < rng.random()
        after = before.copy()
        if n:
            flip = rng.integers(0, n, int(rng.integers(0, min(n, availability.PATCHED_FLIPS) + 1)))
            after[flip] = ~after[flip]
        flipped = flipped_rows(before, after)
        assert flipped is not None
        got = patched(Kept.built(before, rows, ptr), after, flipped)
        want = Kept.built(after, rows, ptr)
        for name in ("kept", "kept_ptr", "dropped_at"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name


def _products(stock: np.ndarray, banned: np.ndarray) -> EntityTable:
    return EntityTable(np.arange(len(stock), dtype=np.int64), {"stock": stock, "banned": banned})


def test_a_new_mask_comes_with_the_lists_rows_built(monkeypatch) -> None:
    """``follow`` builds the available rows of each list read under the old mask before installing
    the new one: a stock-out and a restock are patched in, a mask of many flips built anew; the
    reader finds them kept, equal to a build under the new mask."""
    rng = np.random.default_rng(1)
    n = 5_000
    stock, banned = rng.integers(0, 3, n).astype(np.float32), np.zeros(n, np.float32)
    rows = rng.permutation(n).astype(np.int64)
    ptr = np.r_[0, np.sort(rng.integers(0, n, 40)), n].astype(np.int64)
    avail = Availability(None)
    avail.follow(np.arange(n), _products(stock, banned))
    avail.segments(rows, ptr), avail.segments(rows)
    for flips in (3, 2 * availability.PATCHED_FLIPS):
        stock = stock.copy()
        at = rng.choice(n, flips, replace=False)
        stock[at] = np.where(stock[at] > 0, 0, 1)  # sold out, or back in stock
        avail.follow(np.arange(n), _products(stock, banned))
        assert avail.holds(rows, ptr) and avail.holds(rows), "built before the mask was installed"
        fresh = Availability(avail.mask)
        for p in (ptr, None):
            got, want = avail.segments(rows, p), fresh.segments(rows, p)
            assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, want, strict=True))


def _overlaid(products: EntityTable, rows: np.ndarray) -> EntityTable:
    """The overlay of a price cut, a stock-out and a ban at ``rows`` (changed columns copied)."""
    cols = dict(products.columns)
    price, stock, banned = cols["price"].copy(), cols["stock"].copy(), cols["banned"].copy()
    price[rows[0]] = price[rows[0]] * 0.5 + 1
    stock[rows[1]] = 0
    banned[rows[2]] = 1
    return EntityTable(products.ids, {**cols, "price": price, "stock": stock, "banned": banned})


def test_the_patched_feature_table_is_the_table_a_build_gives(small_models: Path) -> None:
    """The per-product feature table prepared for the changed product table (only the changed rows
    computed again) equals a build of the whole table, bit for bit, and is the table once the
    changed table is swapped in; readers meanwhile take it as soon as the swap is made."""
    snap = FeatureSnapshot.load(small_models / "latest" / "snapshot")
    names = per_product_names()
    current = product_feature_table(snap)
    new = _overlaid(snap.products, np.array([3, 10, 17]))
    assert prepare_product_feature_table(snap, new)
    assert snap.derived[CACHE_KEY] is current, "nothing the readers take changes before the swap"
    snap.products = new
    prepared = per_product.ready_product_feature_table(snap)
    assert prepared is not None and prepared.holds(snap, names), "taken at once, before it is installed"
    install_prepared_table(snap)
    assert snap.derived[CACHE_KEY] is prepared and PREPARED_KEY not in snap.derived
    built = build_product_feature_table(snap, names)
    assert prepared.matrix.dtype == built.matrix.dtype
    assert np.array_equal(prepared.matrix.view(np.uint32), built.matrix.view(np.uint32))
    assert not np.array_equal(prepared.matrix, current.matrix), "the changes reach the table"
    renamed = EntityTable(new.ids, {**new.columns, "store_id": new.columns["store_id"] + 1})
    assert not prepare_product_feature_table(snap, renamed), "a store change is built anew"


def _change(state, engine, kind: str, product: int) -> None:
    """Log one catalog change of ``product`` (a price, a stock-out, a ban or its store's ban) and let
    the follower fold it."""
    from ranking.catalog_changes import BANS, PRODUCT_CHANGES, check_ban, check_products
    from ranking.event_log import EventLog

    pid, view = int(engine.snapshot.products.ids[product]), state.catalog.view(engine)
    now = int(time.time() * 1000)
    if kind in ("ban", "store_ban"):
        banned = {"product_ids": [pid]} if kind == "ban" else {"store_ids": [view.store_of(pid)]}
        ban = check_ban({**banned, "reason": "test"}, view, now, 100)
        EventLog(state.events_dir).append({BANS: [ban]})
    else:
        price = round(float(engine.snapshot.products.columns["price"][product]) * 0.5 + 1.0, 2)
        row = {"product_id": pid, "price": price} if kind == "price" else {"product_id": pid, "stock": 0}
        EventLog(state.events_dir).append({PRODUCT_CHANGES: check_products([row], view, now)[0]})
    state.catalog.catch_up()


def _served(engine, pages) -> list:
    return [[(c["product_id"], c["score"]) for c in engine.rank(name, request).cards]
            for name, request in pages]


def test_the_pages_after_a_change_build_nothing_and_equal_a_fresh_engines(small_models: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    """After a price change, a stock-out and a ban of products the pages show, each folded by the
    follower, the next pages build nothing kept per product table (derived columns, the homepage
    lists' available rows, the feature table: none aside either), and they are the pages of a
    fresh engine laid over the changed catalog (a reload's)."""
    with started_state(small_models / "latest", tmp_path) as state:
        engine = state.engine
        pages = _other_pages(engine)
        _served(engine, pages)  # what these pages keep, under the table served now
        shown = [engine.snapshot.products.rows(np.array([ids[0][0]]))[0]
                 for ids in _served(engine, pages[:3])]
        built = _kept_builds(monkeypatch)
        tables: list = []
        build = per_product.build_product_feature_table
        monkeypatch.setattr(per_product, "build_product_feature_table",
                            lambda snapshot, names: tables.append(names) or build(snapshot, names))
        for kind, row in zip(("price", "stock", "ban"), shown, strict=True):
            products = engine.snapshot.products
            _change(state, engine, kind, int(row))
            assert engine.snapshot.products is not products, f"the {kind} change was swapped in"
            built.clear()
            after = _served(engine, pages)
            assert built == [] and tables == [], kind
            assert engine.snapshot.derived[CACHE_KEY].holds(engine.snapshot, per_product_names(
                engine.bundle.model.feature_names))
        fresh, _ = state.reload(None)
        assert fresh is not engine
        assert _served(fresh, pages) == after


def test_a_stores_first_ban_changes_a_column_the_served_table_already_carries(small_models: Path,
                                                                             tmp_path: Path,
                                                                             monkeypatch) -> None:
    """A bundle's product table has no ``store_banned`` (training knows no store ban); the engine
    serves it with one of zeros from its load, so a store's first ban changes values of a column the
    table has, as any ban does: the new table has the old one's columns, the follower builds what
    reads it once each (governance's barred codes, the subsidy channel's rows) and patches the
    feature table at the banned rows before the swap, the next pages build nothing, and they are a
    fresh engine's pages."""
    bundle = small_models / "latest"
    assert "store_banned" not in FeatureSnapshot.load(bundle / "snapshot").products.columns
    with started_state(bundle, tmp_path) as state:
        engine = state.engine
        served = engine.snapshot.products
        assert served.columns["store_banned"].dtype == np.float32 and not served.columns["store_banned"].any()
        pages = _other_pages(engine)
        _served(engine, pages)
        row = served.rows(np.array([_served(engine, pages[:1])[0][0][0]]))[0]
        built = _kept_builds(monkeypatch)
        tables: list = []
        build = per_product.build_product_feature_table
        monkeypatch.setattr(per_product, "build_product_feature_table",
                            lambda snapshot, names: tables.append(names) or build(snapshot, names))
        _change(state, engine, "store_ban", int(row))
        banned = engine.snapshot.products
        assert banned is not served and list(banned.columns) == list(served.columns)
        assert banned.columns["store_banned"].any()
        before_swap, built[:] = list(built), []
        derived = [b for b in before_swap if b.startswith("derived column")]  # unique labels
        assert any("_barred" in b for b in derived) and any("function _ranked " in b for b in derived), \
            before_swap
        assert len(derived) == len(set(derived)), before_swap
        after = _served(engine, pages)
        assert built == [] and tables == []
        fresh, _ = state.reload(None)
        assert _served(fresh, pages) == after
