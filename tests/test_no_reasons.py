"""A filter that removes nothing returns the kept read-only empty reasons (``filters.reasons.no_reasons``),
not a new object array per request; one that removes some still gives each its reason."""

from __future__ import annotations

import numpy as np
import pytest
from rules_mall import rules_request, rules_snapshot, scored

from ranking.live.state import ShopperView
from ranking.pipeline.filters import (
    BadgeFilter,
    Governance,
    KnownProducts,
    LiveHistory,
    MerchandisingFilter,
    RequestFilters,
)
from ranking.pipeline.filters.reasons import no_reasons
from ranking.settings import LiveSettings, RulesSettings


def test_no_reasons_is_a_read_only_view_of_empty_reasons_grown_when_asked_for_more() -> None:
    small = no_reasons(3)
    assert small.tolist() == ["", "", ""] and not small.flags.writeable
    big = no_reasons(5000)  # past the kept length: a longer array replaces it
    assert len(big) == 5000 and set(big.tolist()) == {""} and not big.flags.writeable
    assert np.shares_memory(no_reasons(10), big) and small.tolist() == ["", "", ""]
    with pytest.raises(ValueError):
        small[0] = "x"


def test_filters_that_remove_nothing_return_the_kept_reasons() -> None:
    snap = rules_snapshot()
    c = scored(snap)
    request = rules_request()
    for f in (KnownProducts(), Governance(RulesSettings()), RequestFilters(), BadgeFilter(),
              LiveHistory(LiveSettings()), MerchandisingFilter()):
        keep, reason = f.apply(c, request, snap)
        assert keep.all() and np.shares_memory(reason, no_reasons(len(c))), f.name
        assert keep.flags.writeable, f.name  # the keep mask stays the caller's own


def test_a_filter_that_removes_some_still_names_them() -> None:
    snap = rules_snapshot()
    c = scored(snap, [100, 999, 101])
    keep, reason = KnownProducts().apply(c, rules_request(), snap)
    assert keep.tolist() == [True, False, True] and reason[1] == "unknown_product"
    keep, reason = RequestFilters().apply(scored(snap, [100, 101]), rules_request(price_max=10.5), snap)
    assert keep.tolist() == [True, False] and reason[1] == "filter:price_max"
    view = ShopperView(user_id=1, session_id=None, known=True, now_ms=0, exclude=np.array([101]),
                       bought=np.array([101]))
    keep, reason = LiveHistory(LiveSettings()).apply(c, rules_request(shopper=view), snap)
    assert keep.tolist() == [True, True, False] and reason[2] == "bought"
