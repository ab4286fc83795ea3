"""The catalog follower's idle poll does not look for new products again while nothing was folded
and the engine serves the product table that had none waiting; a fold or another table looks again."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ranking.catalog_changes import PRODUCT_CHANGES
from ranking.features.snapshot import EntityTable
from ranking.live.catalog_follower import CatalogFollower
from ranking.live.catalog_state import REQUIRED


class Engine:  # weakly referenced, as the follower holds engines
    def __init__(self, ids) -> None:
        self.snapshot = SimpleNamespace(products=EntityTable(np.asarray(ids, np.int64)))


def engine_of(ids) -> Engine:
    return Engine(ids)


def follower() -> CatalogFollower:
    return CatalogFollower(SimpleNamespace(poll=list, close=lambda: None), list, 100, 0.5,
                           hook=lambda engine, rows: 0)


def whole_row(pid: int) -> dict:
    return {**{name: 1 for name in REQUIRED}, "product_id": pid}


def test_an_idle_poll_looks_for_new_products_once_until_a_fold_or_another_table(monkeypatch):
    f, engine = follower(), engine_of([1, 2, 3])
    f.state.fold([(PRODUCT_CHANGES, {"product_id": 2, "price": 5.0})])  # a known product changed
    looked = []
    real = f._new_products
    monkeypatch.setattr(f, "_new_products", lambda e: looked.append(1) or real(e))
    assert not f._waiting(engine) and not f._waiting(engine) and not f._waiting(engine)
    assert looked == [1], "looked once, then trusted while nothing changed"
    f.state.fold([(PRODUCT_CHANGES, whole_row(9))])  # a new product, complete
    assert f._waiting(engine), "a fold looks again"
    assert f._waiting(engine), "still waiting: looked again every poll"
    assert looked == [1, 1, 1]
    engine.snapshot.products = EntityTable(np.array([1, 2, 3, 9], np.int64))  # the hook took it
    assert not f._waiting(engine)
    assert not f._waiting(engine)
    assert looked == [1, 1, 1, 1]
    engine.snapshot.products = EntityTable(np.array([1, 2, 3], np.int64))  # a reload without it
    assert f._waiting(engine), "another product table looks again"


def test_without_a_hook_nothing_waits_and_nothing_is_kept():
    f, engine = follower(), engine_of([1])
    f.hook = None
    f.state.fold([(PRODUCT_CHANGES, whole_row(9))])
    assert not f._waiting(engine)
    f.hook = lambda engine, rows: 0  # a hook set later (as tests do) sees the product
    assert f._waiting(engine)
