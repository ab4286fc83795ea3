"""The filters, each alone: what they remove and the reason they give."""

from __future__ import annotations

import numpy as np
from rules_mall import rules_request, rules_snapshot, scored

from ranking.pipeline.filters import Governance, KnownProducts, RequestFilters, default_filters
from ranking.pipeline.filters.reasons import drop
from ranking.settings import RulesSettings


def test_known_products_drops_ids_the_bundle_does_not_know():
    snap = rules_snapshot()
    keep, why = KnownProducts().apply(scored(snap, [100, 101, 102, 999]), rules_request(), snap)
    assert list(keep) == [True, True, True, False] and why[3] == "unknown_product"


def test_governance_drops_banned_and_out_of_stock_products_unless_switched_off():
    snap = rules_snapshot()
    snap.products.columns["banned"][0] = 1
    snap.products.columns["stock"][1] = 0
    c = scored(snap, [100, 101, 102])
    keep, why = Governance(RulesSettings()).apply(c, rules_request(), snap)
    assert list(why) == ["banned", "out_of_stock", ""] and list(keep) == [False, False, True]
    lenient = Governance(RulesSettings(drop_banned=False, drop_out_of_stock=False))
    keep, _ = lenient.apply(c, rules_request(), snap)
    assert keep.all()


def test_request_filters_apply_the_callers_price_category_and_store():
    snap = rules_snapshot()
    c = scored(snap, [100, 101, 102])
    keep, why = RequestFilters().apply(c, rules_request(price_max=12.0, category_id=1), snap)
    assert keep[0] and not keep[2] and why[2] == "filter:price_max"
    keep, why = RequestFilters().apply(c, rules_request(price_min=12.0), snap)
    assert not keep[0] and keep[2] and why[0] == "filter:price_min"
    keep, why = RequestFilters().apply(c, rules_request(category_id=12), snap)
    assert not keep.any() and why[0] == "filter:category"
    keep, why = RequestFilters().apply(c, rules_request(store_id=1), snap)
    assert list(keep) == [False, True, False] and why[0] == "filter:store"


def test_default_filters_run_known_products_then_governance_then_the_callers():
    assert [f.name for f in default_filters(RulesSettings())] == ["known_products", "governance",
                                                                 "request_filters", "badges", "live_history",
                                                                 "merchandising"]


def test_known_products_and_governance_look_the_candidates_up_once():
    snap = rules_snapshot()
    snap.products.columns["stock"][2] = 0
    c = scored(snap, [100, 999, 102, 103])
    rows, calls = snap.products.rows, []
    snap.products.rows = lambda ids: calls.append(len(ids)) or rows(ids)  # type: ignore[method-assign]
    keep, why = KnownProducts().apply(c, rules_request(), snap)
    assert keep.tolist() == [True, False, True, True] and why[1] == "unknown_product"
    keep[:] = False  # the caller's keep mask is its own: the set's located rows stay as they were
    keep, why = Governance(RulesSettings()).apply(c, rules_request(), snap)
    assert list(why) == ["", "", "out_of_stock", ""] and keep.tolist() == [True, True, False, True]
    assert calls == [4]


def test_drop_keeps_the_keep_mask_of_the_reasons_written():
    rng = np.random.default_rng(3)
    masks = [rng.random(200) < 0.3 for _ in range(4)]
    for first_wins in (False, True):
        keep, reason = np.ones(200, dtype=bool), np.full(200, "", dtype=object)
        expected = np.full(200, "", dtype=object)
        for i, out in enumerate(masks):
            drop(keep, reason, out, f"r{i}", first_wins=first_wins)
            expected[out & (expected == "") if first_wins else out] = f"r{i}"
        assert reason.tolist() == expected.tolist() and keep.tolist() == (expected == "").tolist()
    keep, reason = np.ones(3, dtype=bool), np.full(3, "", dtype=object)
    drop(keep, reason, np.zeros(3, dtype=bool), "never")
    assert keep.all() and reason.tolist() == ["", "", ""]



def test_request_filters_read_no_price_without_a_price_filter(monkeypatch):
    import ranking.pipeline.filters.request_filters as module

    snap, read = rules_snapshot(), []
    c = scored(snap, [100, 101, 102])
    column = module.product_column
    monkeypatch.setattr(module, "product_column", lambda s, cands, name, **kw: read.append(name) or column(
        s, cands, name, **kw))
    keep, _ = RequestFilters().apply(c, rules_request(store_id=0), snap)
    assert keep.tolist() == [True, False, False] and read == ["store_id"]
    keep, why = RequestFilters().apply(c, rules_request(price_min=12.0), snap)
    assert keep.tolist() == [False, True, True] and why[0] == "filter:price_min" and read[1:] == ["price"]
