"""The category page's prior order: kept per version of the columns it reads, rebuilt by the live
catalog before a changed table is swapped in, the very rows a sort of the available rows gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from started_worker import started_state
from test_catalog_change_tables import _change
from test_start_tables import _kept_builds

from ranking.pipeline import RankRequest
from ranking.recall.category_browse import CategoryBrowse, _available_by_prior
from ranking.surfaces import CATEGORY_CHANNEL, CHANNEL


def _sorted_available(ids, score, popularity, stock, banned, store_banned, leaf, top):
    """The order as it was computed before (the available rows alone, sorted stably by the prior)."""
    n = len(ids)

    def col(values, default):
        return np.full(n, default) if values is None else np.asarray(values, dtype=np.float64)

    prior = np.nan_to_num(col(score, 0), nan=0.0) * (1.0 + np.nan_to_num(col(popularity, 0), nan=0.0))
    rows = np.flatnonzero((col(stock, 1) > 0) & (col(banned, 0) == 0) & (col(store_banned, 0) == 0))
    rows = rows[np.argsort(-prior[rows], kind="stable")]
    return rows, col(leaf, -1)[rows], col(top, -1)[rows]


def test_the_order_is_the_sort_of_the_available_rows_alone_ties_nans_and_missing_columns_included() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(0, 80))
        ids = np.arange(n, dtype=np.int64)

        def maybe(values):
            return None if rng.random() < 0.15 else values

        score = rng.integers(0, 4, n).astype(np.float32) / 4  # heavy ties
        score[rng.random(n) < 0.1] = np.nan
        popularity = maybe(rng.integers(0, 3, n).astype(np.float32))
        stock = maybe(rng.integers(0, 3, n).astype(np.float32))
        banned = maybe((rng.random(n) < 0.2).astype(np.float32))
        store_banned = maybe((rng.random(n) < 0.2).astype(np.float32))
        leaf, top = maybe(rng.integers(0, 5, n)), maybe(rng.integers(0, 2, n))
        score = maybe(score)
        got = _available_by_prior(ids, score, popularity, stock, banned, store_banned, leaf, top)
        want = _sorted_available(ids, score, popularity, stock, banned, store_banned, leaf, top)
        for a, b in zip(got, want, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def _category_page(state) -> tuple:
    """(the engine, its snapshot, a category page of the first product's leaf)."""
    engine = state.engine
    snap = engine.snapshot
    category = int(snap.products.columns["category_id"][0])
    return engine, snap, RankRequest(surface=CHANNEL, page_size=20, now_ms=snap.as_of_ms, hour=15,
                                     channel=CATEGORY_CHANNEL, category_id=category)


def test_after_a_stock_out_the_first_category_page_builds_nothing_and_leaves_the_product_out(
        small_models: Path, tmp_path: Path, monkeypatch) -> None:
    with started_state(small_models / "latest", tmp_path) as state:
        engine, snap, page = _category_page(state)
        shown = [c["product_id"] for c in engine.rank(CATEGORY_CHANNEL, page).cards]
        assert shown
        built = _kept_builds(monkeypatch)
        _change(state, engine, "stock", int(snap.products.rows(np.array([shown[0]]))[0]))
        assert any("available_by_prior" in b for b in built), "built by the follower before the swap"
        built.clear()
        after = [c["product_id"] for c in engine.rank(CATEGORY_CHANNEL, page).cards]
        assert built == [] and shown[0] not in after
        products = engine.snapshot.products
        kept = CategoryBrowse(engine.snapshot, state.settings.channels)._ordered()[0]
        names = ("product_score", "product_popularity", "stock", "banned", "store_banned", "category_id",
                 "top_category_id")
        assert np.array_equal(kept, _sorted_available(products.ids, *map(products.columns.get, names))[0])


def test_after_new_products_the_first_category_page_builds_nothing_and_can_show_them(
        small_models: Path, tmp_path: Path, monkeypatch) -> None:
    """New products replace the ids and every column: the order the follower builds before the swap
    reads the new prior order, not the swapped-out one (which a page would then build again)."""
    from ranking.live.new_products import add_products

    with started_state(small_models / "latest", tmp_path) as state:
        engine, snap, page = _category_page(state)
        assert engine.rank(CATEGORY_CHANNEL, page).cards
        row, c = 0, snap.products.columns
        new_id = int(snap.products.ids.max()) + 1
        built = _kept_builds(monkeypatch)
        assert add_products(engine, [{
            "product_id": new_id, "store_id": int(c["store_id"][row]), "brand_id": int(c["brand_id"][row]),
            "category_id": page.category_id, "comparable_group_id": int(c["comparable_group_id"][row]),
            "title": "Quillmarsh new listing", "price": float(c["price"][row]),
            "list_price": float(c["list_price"][row]), "stock": 10, "subsidy": False, "banned": False,
            "listed_at": int(snap.as_of_ms)}]) == 1
        assert any("available_by_prior" in b for b in built), "built before the swap"
        built.clear()
        engine.rank(CATEGORY_CHANNEL, page)
        assert not [b for b in built if "prior" in b], built  # (the homepage lists' own builds aside)
        products = engine.snapshot.products
        kept = CategoryBrowse(engine.snapshot, state.settings.channels)._ordered()[0]
        names = ("product_score", "product_popularity", "stock", "banned", "store_banned", "category_id",
                 "top_category_id")
        assert np.array_equal(kept, _sorted_available(products.ids, *map(products.columns.get, names))[0])
        assert products.rows(np.array([new_id]))[0] in kept


def test_a_banned_store_s_products_leave_the_category_recall_so_its_places_go_to_others(
        small_models: Path, tmp_path: Path, monkeypatch) -> None:
    """Governance drops a banned store's products after recall; the category source leaves them out
    itself, so the ``category_candidates`` it hands over are all products a page can show: with the
    cap at 3 and the store of the category's best product banned, the three are others."""
    with started_state(small_models / "latest", tmp_path) as state:
        engine, snap, page = _category_page(state)
        few = state.settings.channels.model_copy(update={"category_candidates": 3})
        best = CategoryBrowse(engine.snapshot, few).recall(page, 10)[0]
        assert len(best) == 3
        row = int(snap.products.rows(best[:1])[0])
        store = snap.products.columns["store_id"][row]
        bar = {c["category_id"]: c["products"] for c in engine.top_categories()}
        c = snap.products.columns
        of_store = (c["store_id"] == store) & (c["stock"] > 0) & (c["banned"] == 0)
        built = _kept_builds(monkeypatch)
        _change(state, engine, "store_ban", row)
        assert any("available_by_prior" in b for b in built), "built by the follower before the swap"
        products = engine.snapshot.products
        ids, _ = CategoryBrowse(engine.snapshot, few).recall(page, 10)
        assert len(ids) == 3 and not (products.columns["store_id"][products.rows(ids)] == store).any()
        names = ("product_score", "product_popularity", "stock", "banned", "store_banned", "category_id",
                 "top_category_id")
        kept = CategoryBrowse(engine.snapshot, few)._ordered()[0]
        assert np.array_equal(kept, _sorted_available(products.ids, *map(products.columns.get, names))[0])
        assert int(best[0]) not in [c["product_id"] for c in engine.rank(CATEGORY_CHANNEL, page).cards]
        tops, counts = np.unique(c["top_category_id"][of_store], return_counts=True)
        lost = dict(zip(tops.tolist(), counts.tolist(), strict=True))
        after = {c["category_id"]: c["products"] for c in engine.top_categories()}  # the category bar
        assert lost and after == {t: n - lost.get(t, 0) for t, n in bar.items() if n > lost.get(t, 0)}
