"""The governance filter's per-product code (``filters.governance.BARRED``): the same keep mask and
reasons as reading the three columns per request, built anew when a column is another array, kept
per table version (a derived column) without holding a swapped-out table alive."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace

import numpy as np
from rules_mall import rules_request, rules_snapshot, scored

from ranking.features.snapshot import EntityTable
from ranking.pipeline.columns import product_column
from ranking.pipeline.filters import Governance
from ranking.pipeline.filters.reasons import drop
from ranking.settings import RulesSettings


def _read_per_request(settings: RulesSettings, cands, snapshot) -> tuple[np.ndarray, np.ndarray]:
    """The filter as it was: three column reads and comparisons per request."""
    reason = np.full(len(cands), "", dtype=object)
    keep = np.ones(len(cands), dtype=bool)
    if settings.drop_out_of_stock:
        drop(keep, reason, product_column(snapshot, cands, "stock", missing=1.0) <= 0, "out_of_stock")
    if settings.drop_banned:
        drop(keep, reason, product_column(snapshot, cands, "store_banned") > 0, "store_banned")
        drop(keep, reason, product_column(snapshot, cands, "banned") > 0, "banned")
    return keep, reason


def _with(snapshot, **columns):
    """The snapshot with a new products table: ``columns`` replaced (None: removed)."""
    cols = {k: v for k, v in {**snapshot.products.columns, **columns}.items() if v is not None}
    return replace(snapshot, products=EntityTable(snapshot.products.ids, cols))


def test_the_code_gives_what_reading_the_columns_gave() -> None:
    rng = np.random.default_rng(5)
    snap = rules_snapshot(60)
    stock = rng.choice([-1.0, 0.0, 2.0, np.nan], 60).astype(np.float32)
    tables = [_with(snap, stock=stock, banned=(rng.random(60) < 0.2).astype(np.float32),
                    store_banned=(rng.random(60) < 0.2).astype(np.float32)),
              _with(snap, stock=rng.integers(-1, 3, 60), store_banned=None),  # int stock, no store bans
              _with(snap, stock=None, banned=None)]  # nothing to read: nothing barred
    ids = np.r_[snap.products.ids, [5, 999]]  # two the table does not know
    for table in tables:
        for a in (False, True):
            for b in (False, True):
                settings = RulesSettings(drop_out_of_stock=a, drop_banned=b)
                keep, why = Governance(settings).apply(scored(table, ids), rules_request(), table)
                old_keep, old_why = _read_per_request(settings, scored(table, ids), table)
                assert keep.tolist() == old_keep.tolist()
                assert why[~keep].tolist() == old_why[~keep].tolist()


def test_a_swapped_column_is_read_anew_and_each_version_keeps_its_own() -> None:
    snap = rules_snapshot()
    ids = snap.products.ids[:4]
    gov = Governance(RulesSettings())
    assert gov.apply(scored(snap, ids), rules_request(), snap)[0].all()
    banned = snap.products.columns["banned"].copy()
    banned[1] = 1  # the live catalog's way: a changed column is a copy, the table swapped whole
    later = _with(snap, banned=banned)
    keep, why = gov.apply(scored(later, ids), rules_request(), later)
    assert keep.tolist() == [True, False, True, True] and why[1] == "banned"
    store_banned = np.zeros(len(snap.products.ids), dtype=np.float32)
    store_banned[2] = 1
    latest = _with(later, store_banned=store_banned)
    keep, why = gov.apply(scored(latest, ids), rules_request(), latest)
    assert keep.tolist() == [True, False, False, True] and why[2] == "store_banned"
    # two tables served in turn (two arms' bundles) each read their own version
    for table, expected in ((snap, [True] * 4), (later, [True, False, True, True]), (snap, [True] * 4)):
        assert gov.apply(scored(table, ids), rules_request(), table)[0].tolist() == expected


def test_a_swapped_out_table_is_not_kept_alive() -> None:
    snap = _with(rules_snapshot(), stock=np.ones(30, dtype=np.float32) * 3)
    Governance(RulesSettings()).apply(scored(snap), rules_request(), snap)
    stock = weakref.ref(snap.products.columns["stock"])
    del snap
    gc.collect()
    assert stock() is None
