"""The filters, each alone: what they remove and the reason they give."""

from __future__ import annotations

from rules_mall import rules_request, rules_snapshot, scored

from ranking.pipeline.filters import Governance, KnownProducts, RequestFilters, default_filters
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
