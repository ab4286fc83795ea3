"""Card badges: which codes a product carries (ranking.card_badges), the badge filter's drops
(``filter:<badge>``), and the engine's cards on every surface and /similar carrying them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rules_mall import rules_request, rules_snapshot, scored

from ranking.badges import ATTRIBUTE_BADGES, BADGES
from ranking.card_badges import DAY_MS, badge_lists, badge_matrix
from ranking.features.snapshot import EntityTable
from ranking.pipeline.filters import BadgeFilter, default_filters
from ranking.settings import BadgeSettings, RulesSettings


def _offer_snapshot():
    snap = rules_snapshot(n=6)
    cols = snap.products.columns
    for code in ATTRIBUTE_BADGES:
        cols[code] = np.zeros(6, np.float32)
    cols["free_shipping"][[0, 2]] = 1
    cols["pay_later"][[2, 3]] = 1
    cols["seven_day_returns"][5] = 1
    cols["subsidy"][4] = 1
    cols["listed_at"] = np.full(6, 0.0)
    cols["listed_at"][1] = 20 * DAY_MS  # listed 2 days before the request below
    return snap


def test_badges_follow_the_columns_in_the_stable_order():
    snap = _offer_snapshot()
    now = 22 * DAY_MS
    ids = np.array([100, 101, 102, 103, 104, 105, 999])
    lists = badge_lists(badge_matrix(snap.products, ids, now, 14))
    assert lists == [["free_shipping"], ["new_product"], ["free_shipping", "pay_later"], ["pay_later"],
                     ["subsidy"], ["seven_day_returns"], []]  # 999: unknown, no badge
    assert badge_lists(badge_matrix(snap.products, ids[1:2], now, 1.5)) == [[]]  # 2 days > 1.5
    every = {c: np.ones(1, np.float32) for c in ATTRIBUTE_BADGES}
    table = EntityTable(np.array([7]), {**every, "subsidy": np.ones(1), "listed_at": np.array([now])})
    assert badge_lists(badge_matrix(table, np.array([7]), now, 14)) == [list(BADGES)]


def test_a_table_without_the_columns_gives_no_badge():
    snap = rules_snapshot(n=3)  # an older bundle: no attribute columns, no listed_at
    assert badge_lists(badge_matrix(snap.products, np.array([100, 101]), 0, 14)) == [[], []]


def test_the_badge_filter_keeps_only_the_cards_carrying_every_badge_asked():
    snap = _offer_snapshot()
    c = scored(snap, [100, 101, 102, 103, 104, 105])
    keep, why = BadgeFilter().apply(c, rules_request(badges=("free_shipping",)), snap)
    assert list(keep) == [True, False, True, False, False, False]
    assert set(why[~keep]) == {"filter:free_shipping"}
    keep, why = BadgeFilter().apply(c, rules_request(badges=("free_shipping", "pay_later")), snap)
    assert list(keep) == [False, False, True, False, False, False]
    assert why[0] == "filter:pay_later" and why[3] == "filter:free_shipping"
    keep, _ = BadgeFilter().apply(c, rules_request(), snap)
    assert keep.all()
    recent = rules_request(badges=("new_product",), now_ms=22 * DAY_MS)
    keep, why = BadgeFilter(BadgeSettings(new_product_days=14)).apply(c, recent, snap)
    assert list(keep) == [False, True, False, False, False, False] and why[0] == "filter:new_product"
    with pytest.raises(ValueError, match="unknown badge"):
        BadgeFilter().apply(c, rules_request(badges=("cheap",)), snap)


def test_the_badge_filter_runs_in_the_default_filters():
    names = [f.name for f in default_filters(RulesSettings())]
    assert names.index("badges") == names.index("request_filters") + 1


@pytest.fixture(scope="module")
def engine(small_models: Path):
    from ranking.engine import Engine
    from ranking.settings import load_settings

    eng = Engine.load(small_models / "latest", load_settings([]))
    yield eng
    eng.close()


def _truth(engine, ids: list[int], now_ms: int) -> list[list[str]]:
    return badge_lists(badge_matrix(engine.snapshot.products, np.array(ids), now_ms, 14))


def test_every_surfaces_cards_and_similar_carry_their_badges(engine):
    from ranking.pipeline import RankRequest

    now = engine.snapshot.as_of_ms
    cols = engine.snapshot.products.columns
    assert cols["free_shipping"].any() and not cols["free_shipping"].all(), "the simulated mall has both"
    pages = {
        "search": RankRequest(surface="search", page_size=20, now_ms=now, hour=12, query="大米"),
        "homepage": RankRequest(surface="homepage", page_size=20, now_ms=now, hour=20, user_id=3),
        "rerank": RankRequest(surface="channel", page_size=20, now_ms=now, hour=12,
                              candidates=engine.snapshot.products.ids[:40]),
    }
    seen: set[str] = set()
    for name, request in pages.items():
        cards = engine.rank(name, request).cards
        assert cards, name
        ids = [c["product_id"] for c in cards]
        assert [c["badges"] for c in cards] == _truth(engine, ids, now), name
        seen |= {b for c in cards for b in c["badges"]}
    assert {"free_shipping", "seven_day_returns"} <= seen
    pid = int(engine.snapshot.products.ids[0])
    similar = engine.cards_for(np.array([pid, pid + 1]), np.array([1.0, 0.5]), now_ms=now)
    assert [c["badges"] for c in similar] == _truth(engine, [pid, pid + 1], now)


def test_a_free_shipping_request_drops_the_others_with_their_reason(engine):
    from ranking.pipeline import RankRequest

    now = engine.snapshot.as_of_ms
    for surface, extra in (("homepage", {"user_id": 3}), ("search", {"query": "大米"})):
        request = RankRequest(surface=surface, page_size=20, now_ms=now, hour=20, badges=("free_shipping",),
                              **extra)
        page = engine.rank(surface, request)
        assert page.cards and all("free_shipping" in c["badges"] for c in page.cards), surface
        reasons = {d["reason"] for d in page.dropped}
        assert "filter:free_shipping" in reasons, surface


def _random_offers(seed: int):
    snap = rules_snapshot(n=30)
    cols, rng = snap.products.columns, np.random.default_rng(seed)
    for code in ATTRIBUTE_BADGES:
        cols[code] = rng.choice([0.0, 1.0, np.nan], 30).astype(np.float32)
    cols["subsidy"] = rng.choice([0.0, 0.5, np.nan], 30)
    cols["listed_at"] = rng.choice([0.0, 20 * DAY_MS, np.nan], 30)
    return snap


@pytest.mark.parametrize("seed", range(5))
def test_card_badges_kept_per_column_version_are_badge_matrix_lists(seed):
    from ranking.card_badges import CardBadges
    from ranking.features.snapshot import located

    snap = _random_offers(seed)
    products = snap.products
    ids = np.r_[products.ids[::-1], 999, products.ids[:5]]  # an unknown id, repeats
    now = 22 * DAY_MS
    for built in (False, True):  # a page before the bits are built (it computes its own), and after
        kept = CardBadges()
        if built:
            kept.steady(products)
        for days in (14, 1.5):
            assert kept.lists(products, located(products.rows(ids)), now, days) == \
                badge_lists(badge_matrix(products, ids, now, days))
    del products.columns["listed_at"]  # a bundle without listing times: no new_product
    kept.steady(products)
    assert kept.lists(products, located(products.rows(ids)), now, 14) == \
        badge_lists(badge_matrix(products, ids, now, 14))


def test_card_badges_follow_a_replaced_column_and_keep_the_others():
    from ranking.card_badges import CardBadges
    from ranking.features.snapshot import located

    snap = _random_offers(7)
    products, kept = snap.products, CardBadges()
    steady = kept.steady(products)
    assert kept.steady(products) is steady  # kept while nothing changed
    before = kept._bits._memo[1][1]
    column = products.columns["free_shipping"].copy()  # the live catalog copies a changed column
    column[:] = 1 - np.nan_to_num(column)
    products.columns["free_shipping"] = column
    ids = products.ids
    got = kept.lists(products, located(products.rows(ids)), 22 * DAY_MS, 14)  # computed by the page
    assert got == badge_lists(badge_matrix(products, ids, 22 * DAY_MS, 14))
    _wait_built(kept._bits)  # the page started the build aside
    assert kept.lists(products, located(products.rows(ids)), 22 * DAY_MS, 14) == got
    after = kept._bits._memo[1][1]
    changed = [j for j, (a, b) in enumerate(zip(before, after, strict=True)) if a is not b]
    assert changed == [BADGES.index("free_shipping")]  # only that column's bit was computed anew
    products.columns.pop("pay_later")  # a column gone: nobody carries it
    kept.steady(products)
    assert not any("pay_later" in badges for badges in kept.lists(products, located(products.rows(ids)),
                                                                   22 * DAY_MS, 14))


def test_a_pickled_card_badges_is_an_empty_one():
    import pickle

    from ranking.card_badges import CardBadges

    kept = CardBadges()
    kept.steady(_random_offers(1).products)
    assert pickle.loads(pickle.dumps(kept))._bits._memo is None


def _wait_built(aside) -> None:
    """Until ``aside``'s build in the background is done."""
    import time

    deadline = time.time() + 10
    while aside._building.locked():
        assert time.time() < deadline, "the build aside did not finish"
        time.sleep(0.005)
