"""A worker is ready only once it holds the per-product tables of the product table it serves.

The live catalog's first overlay (``serving.catalog.start_catalog``) swaps the product table the
warm-up built its tables for; the tables of the overlaid one are built before the worker takes
traffic, so its first pages neither compute them nor run beside their build (at 1M products
~1.6 s of CPU, which set the search p99 of ``bench.speed``'s first run).
"""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient
from started_worker import started_state

from ranking.features import feature_names
from ranking.features.per_product import (
    BUILD_LOCK_KEY,
    CACHE_KEY,
    built_product_feature_table,
    per_product_names,
    product_feature_table,
)
from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.settings import load_settings
from serving.app import create_app


def test_a_ready_worker_holds_the_tables_of_the_overlaid_product_table(small_models: Path,
                                                                       tmp_path: Path) -> None:
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}"])
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        engine = client.app.state.shelfrank.engine
        for pipeline in engine.pipelines.values():
            snap = pipeline.snapshot
            table = snap.derived.get(CACHE_KEY)
            assert table is not None and table.holds(snap, per_product_names(pipeline.model.feature_names))


def test_the_build_waits_for_a_build_aside_and_holds_the_tables_since_swapped(small_models: Path) -> None:
    snap = FeatureSnapshot.load(small_models / "latest" / "snapshot")
    stale = product_feature_table(snap, feature_names())
    products = snap.products
    lock = snap.derived.setdefault(BUILD_LOCK_KEY, threading.Lock())
    lock.acquire()  # a build aside in progress (for the table before the swap)
    snap.products = EntityTable(products.ids, {**products.columns, "rating": products.columns["rating"] * 0})
    got: list = []
    waiting = threading.Thread(target=lambda: got.append(built_product_feature_table(snap, feature_names())))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive() and not got  # it waits for the build aside
    lock.release()
    waiting.join(30)
    assert got and got[0] is not stale and got[0].holds(snap, per_product_names(feature_names()))
    assert snap.derived[CACHE_KEY] is got[0]


def _changed_price(state, engine, product: int) -> float:
    """Append a price change of ``product`` to the worker's log and let the follower fold it."""
    import time

    from ranking.catalog_changes import PRODUCT_CHANGES, check_products
    from ranking.event_log import EventLog

    price = round(float(engine.snapshot.products.columns["price"][product]) * 0.5 + 1.0, 2)
    pid = int(engine.snapshot.products.ids[product])
    clean, _ = check_products([{"product_id": pid, "price": price}], state.catalog.view(engine),
                              int(time.time() * 1000))
    EventLog(state.events_dir).append({PRODUCT_CHANGES: clean})
    state.catalog.catch_up()
    return price


def test_a_reloaded_engine_is_swapped_in_holding_the_tables_of_what_it_serves(small_models: Path,
                                                                             tmp_path: Path) -> None:
    """A reload lays the catalog's changes over the new engine and builds its tables before the
    swap: the follower's next poll swaps nothing, so no page after a reload starts a build (at 1M
    products ~1.5 s of CPU, beside the first pages)."""
    with started_state(small_models / "latest", tmp_path) as state:
        old = state.engine
        price = _changed_price(state, old, 5)
        new, _ = state.reload(None)
        assert new is not old and state.engine is new
        products = new.snapshot.products
        assert products.columns["price"][5] == price, "swapped in with the changes so far"
        for pipeline in new.pipelines.values():
            table = pipeline.snapshot.derived.get(CACHE_KEY)
            assert table is not None and table.holds(pipeline.snapshot,
                                                     per_product_names(pipeline.model.feature_names))
        state.catalog.catch_up()
        assert new.snapshot.products is products, "the next poll swapped the table the tables were built for"


def test_a_change_folded_while_a_reload_is_prepared_reaches_it_after_the_swap(small_models: Path,
                                                                              tmp_path: Path) -> None:
    from serving.state import router_engines

    with started_state(small_models / "latest", tmp_path) as state:
        built = state._build(state.settings.serving.bundle)  # a reload's router, not served yet
        mark = state.catalog.prepare(router_engines(built))
        price = _changed_price(state, state.engine, 7)  # laid over the served engine only
        state._swap(built, mark)
        assert state.engine is built.default
        state.catalog.catch_up()  # the next poll overlays the swapped-in engine whole
        assert built.default.snapshot.products.columns["price"][7] == price


def _kept_builds(monkeypatch) -> list[str]:
    """What pages build from now on of what is kept per product table: a derived column (theme
    codes, grades, select keys...), a homepage list's available rows, a homepage source's value
    kept per availability mask (trending's head)."""
    from ranking.pipeline.derived_columns import DerivedColumn
    from ranking.recall.homepage_sources.availability import Availability
    from ranking.recall.homepage_sources.base import QuotaSource

    built: list[str] = []
    of, segments, per_mask = DerivedColumn.of, Availability.segments, QuotaSource.per_mask

    def counted_of(self, *sources):
        key = tuple(map(id, sources))  # as ``of`` finds a kept version
        if not any(ids == key and alive.alive for ids, alive, _, _ in self._memo):
            built.append(f"derived column {self.build}")
        return of(self, *sources)

    def counted_segments(self, rows, ptr=None):
        if not self.holds(rows, ptr):
            built.append(f"available rows of a homepage list of {len(rows)}")
        return segments(self, rows, ptr)

    def counted_per_mask(self, key):
        held, values = self._memo
        if held is not self.fitted.availability.mask or key not in values:
            built.append(f"{self.name}'s {key} under the mask")
        return per_mask(self, key)

    monkeypatch.setattr(DerivedColumn, "of", counted_of)
    monkeypatch.setattr(Availability, "segments", counted_segments)
    monkeypatch.setattr(QuotaSource, "per_mask", counted_per_mask)
    return built


def _other_pages(engine) -> list[tuple[str, object]]:
    """Pages unlike the warm-up's (other shoppers, query, candidates) at an hour of every time slot."""
    import numpy as np

    from ranking.pipeline import RankRequest

    snap = engine.snapshot
    users = [int(u) for u in snap.users.ids[5:8]]
    words = [w for w in snap.text.vocabulary if len(w) >= 3][3:6]
    now, ids = snap.as_of_ms, snap.products.ids[300:500].astype(np.int64)
    pages: list[tuple[str, object]] = []
    for i, hour in enumerate((3, 9, 15, 21)):  # slots 2, 0, 1, 2
        user = users[i % len(users)]
        pages += [("search", RankRequest(surface="search", page_size=20, now_ms=now, hour=hour, user_id=user,
                                         query=words[i % len(words)])),
                  ("homepage", RankRequest(surface="homepage", page_size=20, now_ms=now, hour=hour,
                                           user_id=user if i else None)),
                  ("rerank", RankRequest(surface="homepage", page_size=20, now_ms=now, hour=hour,
                                         user_id=user, candidates=ids))]
    return pages


def test_the_first_pages_after_start_build_nothing_kept_per_product_table(small_models: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    """``Engine.build_tables`` (after the live catalog's first overlay, which swaps the homepage's
    availability mask) builds what pages keep per product table: at 1M products the first homepage
    built ~80 ms of the lists' available rows and trending's head, and a first search at an hour of
    the morning's slot, which the warm-up never ranked, ~18 ms of theme codes."""
    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}",
                              "live.backend=off"])
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        engine = client.app.state.shelfrank.engine
        assert engine.recall[0].homepage.availability.mask is not None  # the lists' rows are masked
        built = _kept_builds(monkeypatch)
        for name, request in _other_pages(engine):
            engine.rank(name, request)
        assert built == []


def test_a_reload_builds_the_feature_table_once_for_the_overlaid_product_table(
        small_models: Path, tmp_path: Path, monkeypatch) -> None:
    """The reloaded engine's warm-up builds no table aside for the bundle's product table, which the
    live catalog's overlay swaps right after (at 1M products ~1.2 s of CPU a reload, built twice)."""
    from ranking.features import per_product

    with started_state(small_models / "latest", tmp_path) as state:
        _changed_price(state, state.engine, 5)
        built: list = []
        build = per_product.build_product_feature_table
        monkeypatch.setattr(per_product, "build_product_feature_table",
                            lambda snapshot, names: built.append(snapshot.products) or build(snapshot, names))
        new, _ = state.reload(None)
        assert len(built) == 1 and built[0] is new.snapshot.products


def test_an_engine_loaded_for_the_service_builds_its_tables_only_when_asked(small_models: Path) -> None:
    """``Engine.load(tables=False)``: the warm-up computes the per-product features itself and starts
    no build aside; the default builds them before returning."""
    from ranking.engine import Engine

    settings = load_settings(["live.backend=off"])
    engine = Engine.load(small_models / "latest", settings, tables=False)
    try:
        assert CACHE_KEY not in engine.snapshot.derived
        assert not engine.snapshot.derived.get(BUILD_LOCK_KEY, threading.Lock()).locked()
        engine.build_tables()
        assert engine.snapshot.derived[CACHE_KEY].holds(engine.snapshot, per_product_names(
            engine.bundle.model.feature_names))
    finally:
        engine.close()
    loaded = Engine.load(small_models / "latest", settings)
    try:
        assert loaded.snapshot.derived[CACHE_KEY].holds(loaded.snapshot, per_product_names(
            loaded.bundle.model.feature_names))
    finally:
        loaded.close()


def _ranked_by_build_tables(engine, monkeypatch) -> list[tuple[str, int]]:
    """The (pipeline, hour) of each page ``engine.build_tables()`` ranks."""
    from ranking.engine import Engine

    ranked: list[tuple[str, int]] = []
    rank = Engine.rank
    monkeypatch.setattr(Engine, "rank", lambda self, name, request, *a, **k: ranked.append(
        (name, request.hour)) or rank(self, name, request, *a, **k))
    engine.build_tables()
    monkeypatch.setattr(Engine, "rank", rank)
    return ranked


def test_build_tables_ranks_again_only_what_the_warm_up_did_not_rank_on_the_parts_served(
        small_models: Path, monkeypatch) -> None:
    """On the product table the warm-up ranked on, the warm-up's pages built what they keep: only the
    homepage's other time slots are ranked (at 1M ~160-180 ms of CPU on each start ranked every page
    twice); a product table or catalog text swapped in since has every page ranked again, and a
    second build on the same parts ranks nothing."""
    import copy

    from ranking.engine import Engine

    settings = load_settings(["live.backend=off"])
    engine = Engine.load(small_models / "latest", settings, tables=False)
    try:
        every = [(name, request.hour) for name, request in engine._warm_requests(every_slot=True)]
        warmed = {(name, request.hour) for name, request in engine._warm_requests()}
        assert _ranked_by_build_tables(engine, monkeypatch) == [p for p in every if p not in warmed]
        assert _ranked_by_build_tables(engine, monkeypatch) == []
        products = engine.snapshot.products
        engine.snapshot.products = EntityTable(products.ids, dict(products.columns))
        assert _ranked_by_build_tables(engine, monkeypatch) == every
        engine.snapshot.text = copy.copy(engine.snapshot.text)  # as a product re-indexed swaps it
        assert _ranked_by_build_tables(engine, monkeypatch) == every
    finally:
        engine.close()


def test_after_a_start_over_logged_changes_the_first_pages_build_nothing_kept_per_product_table(
        small_models: Path, tmp_path: Path, monkeypatch) -> None:
    """Catalog changes logged before the start: the first overlay swaps in a new product table (and
    a new availability mask), so ``build_tables`` must rank every page again for it; had it taken
    the new parts for those the warm-up ranked on (``Engine._kept_for``), the first pages would
    build here. (The follower's builds before a swap are tested in test_catalog_change_tables.)"""
    import time

    from ranking.catalog_changes import BANS, PRODUCT_CHANGES, check_ban, check_products
    from ranking.event_log import EventLog
    from ranking.live.catalog_state import CatalogState, CatalogView

    snap = FeatureSnapshot.load(small_models / "latest" / "snapshot")
    view, now = CatalogView(lambda: snap, CatalogState()), int(time.time() * 1000)
    ids = [int(i) for i in snap.products.ids[[3, 40, 90]]]
    price = round(float(snap.products.columns["price"][3]) * 0.5 + 1.0, 2)
    rows = [{"product_id": ids[0], "price": price}, {"product_id": ids[1], "stock": 0}]
    ban = check_ban({"product_ids": [ids[2]], "reason": "test"}, view, now, 100)
    EventLog(tmp_path).append({PRODUCT_CHANGES: check_products(rows, view, now)[0], BANS: [ban]})
    with started_state(small_models / "latest", tmp_path) as state:
        engine = state.engine
        served = engine.snapshot.products.columns
        assert served["price"][3] != snap.products.columns["price"][3], "the overlay swapped the table in"
        assert served["stock"][40] == 0 and served["banned"][90] == 1
        built = _kept_builds(monkeypatch)
        for name, request in _other_pages(engine):
            engine.rank(name, request)
        assert built == []
