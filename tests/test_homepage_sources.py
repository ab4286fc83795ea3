"""Each homepage source, alone, on a tiny synthetic mall: what it lists and in what order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from homepage_mall import tiny_mall, tiny_recall
from threads_at_once import run_at_once

from ranking.pipeline.candidates import RankRequest
from ranking.recall.homepage_sources import HOMEPAGE_SOURCES, ShopperContext
from ranking.recall.homepage_sources.base import NO_IDS
from ranking.recall.homepage_sources.new_stores import NewStores
from ranking.recall.homepage_sources.personal import Personal
from ranking.recall.homepage_sources.recent_categories import RecentCategories
from ranking.recall.homepage_sources.recently_viewed import RecentlyViewed
from ranking.recall.homepage_sources.repurchase import Repurchase
from ranking.recall.homepage_sources.similar import Similar
from ranking.recall.homepage_sources.subsidy import Subsidy
from ranking.recall.homepage_sources.theme import Theme
from ranking.recall.homepage_sources.top_categories import TopCategories
from ranking.recall.homepage_sources.trending import Trending

USER = 107


@pytest.fixture(scope="module")
def mall():
    return tiny_mall()[2]


@pytest.fixture(scope="module")
def recall():
    return tiny_recall()


def _source(recall, cls):
    return next(s for s in recall.components if isinstance(s, cls))


def _row(mall, product_ids) -> np.ndarray:
    return np.searchsorted(mall.product_ids, product_ids)


def test_every_source_is_run_once_in_order_with_its_quota(recall):
    assert [type(s) for s in recall.components] == list(HOMEPAGE_SOURCES)
    assert len({s.name for s in recall.components}) == 10
    recall.quotas["subsidy"] = 3  # quotas updated after load count
    assert _source(recall, Subsidy).quota == 3
    assert len(recall.sources(USER, 9)["subsidy"][0]) == 3
    recall.quotas["subsidy"] = 6
    assert "subsidy" not in recall.sources(USER, 9, {"subsidy": 0})


def test_the_shopper_context_holds_the_user_and_is_empty_for_strangers(recall):
    c = recall.context(USER, 14)
    assert c.known and c.slot == 1 and len(c.recent_items) == 10 and len(c.top_leaves) == 3
    assert (np.diff(c.recent_weights) <= 0).all() and (np.diff(c.recent_leaf_weights) <= 0).all()
    stranger = recall.context(999, 14)
    assert not stranger.known and not len(stranger.recent_items) and not len(stranger.top_leaves)
    assert recall.context(None, 3).slot == 2 and recall.context(None, 6).slot == 0


def test_the_shopper_context_is_built_once_per_request_however_many_sources_ask(recall):
    request = RankRequest(surface="homepage", page_size=10, now_ms=0, hour=20, user_id=USER)
    seen = []
    run_at_once(lambda: seen.append(recall.context_for(request)), [()] * 10)
    assert len({id(c) for c in seen}) == 1
    other = RankRequest(surface="homepage", page_size=10, now_ms=0, hour=20, user_id=USER)
    assert recall.context_for(other) is seen[0]  # the same shopper and hour: the kept context
    later = RankRequest(surface="homepage", page_size=10, now_ms=0, hour=9, user_id=USER)
    assert recall.context_for(later) is not seen[0]


def test_the_shopper_context_is_kept_until_the_live_view_moves(recall):
    from ranking.live.state import ShopperView

    items = recall.product_ids[[5, 9, 5]]
    view = ShopperView(user_id=USER, session_id=None, known=True, now_ms=0, items=items)
    kept = recall.context(USER, 14, view)
    assert kept.live and kept.recent_items[0] == 5
    again = ShopperView(user_id=USER, session_id=None, known=True, now_ms=1, items=items.copy())
    assert recall.context(USER, 14, again) is kept  # the next page, nothing new: no rebuild
    with pytest.raises(ValueError):
        kept.recent_items[0] = 1  # shared by the requests: read-only
    clicked = ShopperView(user_id=USER, session_id=None, known=True, now_ms=2,
                          items=np.r_[recall.product_ids[[11]], items])
    bought = ShopperView(user_id=USER, session_id=None, known=True, now_ms=2, items=items,
                         bought=recall.product_ids[[9]])
    for moved in (clicked, bought):  # a click, a purchase: built again, as a builder with no memo builds it
        got = recall.context(USER, 14, moved)
        fresh = recall.shopper.fresh(USER, 14, moved)
        assert got is not kept and got.live
        for name in ("recent_items", "recent_weights", "recent_leaves", "recent_leaf_weights",
                     "bought_leaves"):
            assert getattr(got, name).tolist() == getattr(fresh, name).tolist()
    assert recall.context(USER, 14, clicked).recent_items[0] == 11
    assert recall.context(USER, 14) is not kept and not recall.context(USER, 14).live  # no live view
    builder = type(recall.shopper)(recall.a)
    builder.kept.size = 2  # bounded: the oldest leave first
    for hour in (1, 2, 3):
        builder.build(USER, hour)
    assert len(builder.kept) == 2 and (USER, 1) not in builder.kept


def test_recently_viewed_lists_the_strongest_recent_items_first(recall):
    c = recall.context(USER, 9)
    got = _source(recall, RecentlyViewed).candidates(c, 4)
    assert got.tolist() == recall.product_ids[c.recent_items[:4]].tolist()
    assert not len(_source(recall, RecentlyViewed).candidates(recall.context(None, 9), 4))


def test_personal_is_the_nearest_to_the_taste_vector_never_an_item_already_seen(recall):
    c = recall.context(USER, 9)
    got = _source(recall, Personal).candidates(c, 8)
    vectors = recall.a["item_vectors"]
    taste = (vectors[c.recent_items] * c.recent_weights[:, None]).sum(axis=0)
    sim = vectors @ taste
    sim[c.recent_items] = -np.inf
    assert got.tolist() == recall.product_ids[np.argsort(-sim, kind="stable")[:8]].tolist()


def test_similar_lists_the_seeds_neighbours_seed_by_seed_never_a_seed(recall):
    c = recall.context(USER, 9)
    got = _source(recall, Similar).candidates(c, 30)
    seeds = c.recent_items[:3]
    assert len(got) == 30 and len(set(got.tolist())) == 30
    assert not np.isin(got, recall.product_ids[seeds]).any()
    vectors = recall.a["item_vectors"]
    nearest = []
    for s in seeds:
        sim = vectors @ vectors[s]
        sim[seeds] = -np.inf
        nearest.append(int(recall.product_ids[np.argmax(sim)]))
    assert got[0] == nearest[0] and set(nearest) <= set(got.tolist())


def test_top_categories_share_the_quota_over_the_favourite_leaves_best_first(recall, mall):
    c = recall.context(USER, 21)
    got = _source(recall, TopCategories).candidates(c, 9)
    rows = _row(mall, got)
    assert mall.live[rows].all() and set(mall.leaf[rows]) <= set(c.top_leaves.tolist())
    for lf in c.top_leaves:
        mine = rows[mall.leaf[rows] == lf]
        best = np.flatnonzero((mall.leaf == lf) & mall.live)
        assert mine.tolist() == best[np.argsort(-mall.merit[best], kind="stable")][:3].tolist()


def test_recent_categories_rank_by_leaf_weight_times_reach(recall, mall):
    c = recall.context(USER, 21)
    got = _source(recall, RecentCategories).candidates(c, 12)
    rows = _row(mall, got)
    weight = dict(zip(c.recent_leaves.tolist(), c.recent_leaf_weights.tolist(), strict=True))
    assert set(mall.leaf[rows]) <= set(weight)
    score = np.array([weight[lf] for lf in mall.leaf[rows]]) * recall.a["reach"][rows]
    assert (np.diff(score) <= 1e-6).all() and len(got) == 12


def test_trending_takes_half_from_the_favourite_leaves_then_the_mall_by_velocity(recall, mall):
    c = recall.context(USER, 8)
    got = _source(recall, Trending).candidates(c, 10)
    rows = _row(mall, got)
    mine = np.isin(mall.leaf[rows], c.top_leaves)
    assert mine[:5].all() and not mine[5:].any()
    assert (np.diff(mall.velocity[rows[:5]]) <= 0).all() and (np.diff(mall.velocity[rows[5:]]) <= 0).all()
    anonymous = _source(recall, Trending).candidates(recall.context(None, 8), 10)
    live = np.flatnonzero(mall.live)
    by_velocity = live[np.argsort(-mall.velocity[live], kind="stable")]
    assert anonymous.tolist() == mall.product_ids[by_velocity[:10]].tolist()


@pytest.mark.parametrize("cls, flag", [(Subsidy, "subsidy"), (NewStores, "new_store")])
def test_subsidy_and_new_stores_list_their_pools_best_products(recall, mall, cls, flag):
    got = _source(recall, cls).candidates(recall.context(None, 8), 4)
    pool = np.flatnonzero(getattr(mall, flag) & mall.live)
    assert got.tolist() == mall.product_ids[pool[np.argsort(-mall.merit[pool], kind="stable")][:4]].tolist()


def test_theme_lists_the_leaves_themed_at_the_requests_slot(recall, mall):
    for hour, slot in ((8, 0), (14, 1), (21, 2)):
        got = _source(recall, Theme).candidates(recall.context(None, hour), 12)
        themed = np.flatnonzero(mall.leaf_theme_slot == slot)
        assert len(got) and np.isin(mall.leaf[_row(mall, got)], themed).all()


def test_repurchase_lists_only_consumable_leaves_the_shopper_bought(recall, mall):
    source = _source(recall, Repurchase)
    c = recall.context(USER, 8)
    bought = replace(c, bought_leaves=np.array([1, 2, 7]))
    got = source.candidates(bought, 10)
    assert len(got) and set(mall.leaf[_row(mall, got)]) == {1, 7}  # 2 is not consumable
    assert not len(source.candidates(replace(c, bought_leaves=np.array([2, 3])), 10))
    assert not len(source.candidates(ShopperContext(user_id=None, hour=8, slot=0), 10))


def test_one_source_asked_alone_lists_what_all_ten_list(recall):
    from ranking.recall.bundle_part import POOLED_HOMEPAGE, HomepageSource

    for user, hour in ((USER, 9), (USER, 20), (999, 14), (None, 3)):
        context = recall.context(user, hour)
        every = recall.sources(user, hour, context=context)
        for name in recall.quotas:
            got = recall.source(name, context, recall.quotas[name])
            assert (got is None) == (name not in every)
            if got is not None:
                assert np.array_equal(got[0], every[name][0]) and np.array_equal(got[1], every[name][1])
        assert recall.source("subsidy", context, 0) is None
        request = RankRequest(surface="homepage", page_size=10, now_ms=0, hour=hour, user_id=user)
        for name in recall.quotas:
            source = HomepageSource(name, recall)
            ids, scores = source.recall(request, 500)
            assert np.array_equal(ids, every.get(name, (np.zeros(0, np.int64),))[0])
            assert ids.dtype == np.int64 and scores.dtype == np.float64
            assert source.pooled == (name in POOLED_HOMEPAGE)


def test_the_per_mask_values_are_kept_until_the_mask_is_replaced_and_read_only(recall, monkeypatch):
    source = _source(recall, Theme)
    calls = []

    def compute(key):
        calls.append(key)
        return np.arange(3)

    monkeypatch.setattr(source, "per_mask_value", compute)  # (the recall is shared: undone after)
    source._memo = (None, {})
    first = source.per_mask("k")
    assert source.per_mask("k") is first and calls == ["k"]  # computed once per mask
    with pytest.raises(ValueError):
        first[0] = 9  # a caller cannot change what the next request reads
    before = recall.availability.mask
    try:
        recall.availability.mask = np.ones(len(recall.product_ids), bool)  # the live catalog's new mask
        assert source.per_mask("k") is not first and calls == ["k", "k"]
    finally:
        recall.availability.mask = before


def test_a_source_carries_its_per_mask_values_to_a_new_mask(recall):
    theme = _source(recall, Theme)
    before = recall.availability.mask
    try:
        theme.per_mask((0, 5))
        recall.availability.mask = before & (np.arange(len(recall.product_ids)) % 3 > 0)
        theme.carry_values()  # computed under the new mask now, not by its next page
        held, values = theme._memo
        assert held is recall.availability.mask and list(values) == [(0, 5)]
        assert values[(0, 5)].tolist() == theme._ids(0, 5).tolist()
    finally:
        recall.availability.mask = before


def test_trending_and_theme_follow_a_new_mask_as_a_fresh_recall_would(recall, mall):
    c = recall.context(USER, 8)
    kept = {cls: _source(recall, cls).candidates(c, 10) for cls in (Trending, Theme)}
    before = recall.availability.mask
    gone = np.r_[kept[Trending][:3], kept[Theme][:3]]  # sold out since
    try:
        recall.availability.mask = before & ~np.isin(recall.product_ids, gone)
        for cls in (Trending, Theme):
            got = _source(recall, cls).candidates(c, 10)
            fresh = cls(recall.components[0].fitted, recall.quotas).candidates(c, 10)  # nothing kept
            assert got.tolist() == fresh.tolist() and not np.isin(got, gone).any()
    finally:
        recall.availability.mask = before
    for cls in (Trending, Theme):  # and back to the old lists under the old mask
        assert _source(recall, cls).candidates(c, 10).tolist() == kept[cls].tolist()


KEEPING = (Similar, TopCategories, RecentCategories, Trending, Repurchase)


def test_the_costly_sources_keep_each_list_per_what_it_reads_until_the_mask_is_replaced(recall):
    c, other = recall.context(USER, 20), recall.context(USER + 1, 20)
    assert {type(s) for s in recall.components if s.list_key(c, 10) is not None} == set(KEEPING)
    for cls in KEEPING:
        source = _source(recall, cls)
        first = source.listed(c, 10)
        assert first.tolist() == source.candidates(c, 10).tolist()
        assert source.listed(c, 10) is first and not first.flags.writeable  # kept, shared read-only
        assert source.listed(replace(c), 10) is first  # another context reading the same: the same list
        assert source.listed(c, 4).tolist() == source.candidates(c, 4).tolist()  # per k
        assert source.listed(other, 10).tolist() == source.candidates(other, 10).tolist()  # per input
    # a context whose read inputs differ gets its own list, whichever source reads which
    moved = replace(c, recent_items=c.recent_items[::-1].copy(), top_leaves=c.top_leaves[::-1].copy(),
                    recent_leaf_weights=c.recent_leaf_weights[::-1].copy(),
                    bought_leaves=np.r_[c.bought_leaves, recall.a["consumable_leaf"][:1]])
    for cls in KEEPING:
        source = _source(recall, cls)
        assert source.listed(moved, 10).tolist() == source.candidates(moved, 10).tolist()
    assert NO_IDS.flags.writeable  # the shared empty list is never the one kept (made read-only)
    kept = {cls: _source(recall, cls).listed(c, 10) for cls in KEEPING}
    before = recall.availability.mask
    gone = np.concatenate([ids[:2] for ids in kept.values()])  # sold out since
    try:
        recall.availability.mask = before & ~np.isin(recall.product_ids, gone)  # the live catalog's
        for cls in KEEPING:
            got = _source(recall, cls).listed(c, 10)
            assert got.tolist() == _source(recall, cls).candidates(c, 10).tolist()
            assert cls is Similar or not np.isin(got, gone).any()  # similar reads no mask
    finally:
        recall.availability.mask = before
    assert all(_source(recall, cls).listed(c, 10).tolist() == kept[cls].tolist() for cls in KEEPING)


def test_a_recall_given_new_products_starts_with_no_kept_lists(recall):
    fresh = tiny_recall()
    c = fresh.context(USER, 9)
    kept = _source(fresh, Trending).listed(c, 10)
    fresh.replace_arrays(dict(fresh.a))
    assert _source(fresh, Trending).listed(c, 10) is not kept  # new sources: nothing kept
    assert not any(len(s._lists[1]) for s in fresh.components if not isinstance(s, Trending))


def test_similar_keeps_each_seeds_faiss_row_as_one_search_of_the_seeds_returns_it(recall, monkeypatch):
    import ranking.recall.homepage_sources.similar as similar_module

    monkeypatch.setattr(recall.index, "neighbours", None)  # the memo's part: no kept lists (an older bundle)
    source = Similar(recall.components[0].fitted, recall.quotas)  # an empty memo
    c = recall.context(USER, 8)
    seeds = c.recent_items[:3]
    vectors = recall.a["item_vectors"][seeds]
    _, searched = recall.index.search(vectors, 7)
    assert source.neighbours_of(seeds, vectors, 7).tolist() == searched.tolist()
    calls = []
    monkeypatch.setattr(source.fitted.index, "search", lambda *a: calls.append(a) or (None, searched))
    assert source.neighbours_of(seeds[::-1], vectors[::-1], 7).tolist() == searched[::-1].tolist()
    assert not calls  # every seed kept: no scan
    monkeypatch.undo()
    monkeypatch.setattr(recall.index, "neighbours", None)
    for _ in range(2):  # a fresh memo, then a full one: the list a source with no memo would give
        fresh = Similar(recall.components[0].fitted, recall.quotas).candidates(c, 4)
        assert source.candidates(c, 4).tolist() == fresh.tolist()
    source.neighbours.size = 2  # bounded: the oldest seeds leave first
    source.neighbours_of(seeds[:1], vectors[:1], 5)
    assert len(source.neighbours) == 2 and (int(seeds[0]), 5) in source.neighbours
    assert Similar(recall.components[0].fitted, recall.quotas).neighbours.size == similar_module.SEED_MEMO


def test_similar_reads_the_bundles_kept_lists_without_a_scan(recall, monkeypatch):
    """A fitted recall keeps every item's neighbours as ``similar`` asks them (its quota plus its
    seeds): a shopper's seeds are read, not searched, and the list is the one scanning gives."""
    kept = recall.index.neighbours
    assert kept is not None and kept.k == recall.quotas["similar"] + 3
    users = recall.user_ids[:60]
    scanned = {}
    with monkeypatch.context() as m:
        m.setattr(recall.index, "neighbours", None)
        for user in users:
            c = recall.context(int(user), 9)
            scanned[int(user)] = Similar(recall.components[0].fitted, recall.quotas).candidates(c, 12)
    searches = []
    search = recall.index.search
    monkeypatch.setattr(recall.index, "search", lambda q, k: searches.append(len(q)) or search(q, k))
    source = Similar(recall.components[0].fitted, recall.quotas)
    for user in users:
        c = recall.context(int(user), 9)
        assert source.candidates(c, 12).tolist() == scanned[int(user)].tolist()
    seeds = sum(len(recall.context(int(u), 9).recent_items[:3]) for u in users)
    assert seeds and len(searches) < seeds / 4  # only a seed tied at its k-th place is searched
    assert len(source.neighbours) == sum(searches)  # and kept in the memo as before


def test_personal_keeps_each_shoppers_list_until_their_recent_items_change(recall, monkeypatch):
    import pickle

    import ranking.recall.homepage_sources.personal as personal_module

    source = Personal(recall.components[0].fitted, recall.quotas)  # an empty memo
    c = recall.context(USER, 9)
    first = source.candidates(c, 8)
    assert first.tolist() == Personal(recall.components[0].fitted, recall.quotas).search(c, 8).tolist()
    with pytest.raises(ValueError):
        first[0] = 0  # kept: read-only for the next request
    # a live click moved the shopper's history: scanned again, as a source with no memo lists it
    clicked = replace(c, recent_items=np.r_[c.recent_items[1:], c.recent_items[:1]],
                      recent_weights=c.recent_weights.copy())
    expected = Personal(recall.components[0].fitted, recall.quotas).search(clicked, 8)
    calls = []
    real = source.fitted.index.search
    monkeypatch.setattr(source.fitted.index, "search", lambda *a: calls.append(a) or real(*a))
    assert source.candidates(replace(c), 8) is first and not calls  # the same shopper: no scan
    assert len(source.candidates(c, 5)) == 5 and len(calls) == 1  # another quota: scanned
    assert source.candidates(clicked, 8).tolist() == expected.tolist() and len(calls) == 2
    reweighted = replace(c, recent_weights=c.recent_weights * 2)  # same items, other weights: scanned
    source.candidates(reweighted, 8)
    assert len(calls) == 3
    monkeypatch.undo()
    source.lists.size = 2  # bounded: the oldest shoppers leave first
    source.candidates(reweighted, 3)
    assert len(source.lists) == 2
    assert Personal(recall.components[0].fitted, recall.quotas).lists.size == personal_module.PERSONAL_MEMO
    assert not len(pickle.loads(pickle.dumps(source)).lists)  # training's workers: an empty memo


def test_a_recall_given_new_products_starts_personal_and_the_contexts_with_empty_memos(recall):
    c = recall.context(USER, 9)
    _source(recall, Personal).candidates(c, 8)
    assert len(_source(recall, Personal).lists)
    fresh = tiny_recall()
    fresh.context(USER, 9)
    fresh.replace_arrays(dict(fresh.a))  # what ranking.live.new_products does, with its new rows
    assert not len(_source(fresh, Personal).lists) and not len(fresh.shopper.kept)  # nothing kept


def _interleaved_with_numpy(ids: np.ndarray, seed_ids: np.ndarray, k: int) -> np.ndarray:
    """The numpy form ``Similar`` used before ``interleaved`` (the reference)."""
    share = k // len(ids) + 2
    flat = np.concatenate([ids[:, :share].ravel(), ids[:, share:].T.ravel()])
    flat = flat[(flat >= 0) & ~np.isin(flat, seed_ids)]
    _, first = np.unique(flat, return_index=True)
    return flat[np.sort(first)][:k]


def test_similars_interleaving_is_the_numpy_forms_list():
    from ranking.recall.homepage_sources.similar import interleaved

    rng = np.random.default_rng(5)
    for _ in range(300):
        seeds, k = int(rng.integers(1, 4)), int(rng.integers(1, 40))
        ids = rng.integers(0, 60, (seeds, k + seeds))  # small id range: shared neighbours and seeds
        ids[rng.random(ids.shape) < 0.1] = -1  # faiss pads
        seed_ids = rng.choice(60, seeds, replace=False)
        got = interleaved(list(ids), seed_ids, k)
        assert got.dtype == np.int64 and got.tolist() == _interleaved_with_numpy(ids, seed_ids, k).tolist()


def _live_leaves_with_numpy(leaf, recent_leaves, recent_weights):
    """``ShopperContextBuilder.add_live``'s leaves as numpy wrote them before the dict form."""
    from ranking.membership import isin_few

    leaf = np.asarray(leaf, np.int64)
    if not len(leaf):
        return recent_leaves, recent_weights
    leaves, first, counts = np.unique(leaf, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))  # most touched first, then most recent
    top_leaf = float(recent_weights.max()) if len(recent_weights) else 1.0
    weights = (top_leaf + top_leaf * counts[order] / counts.sum()).astype(np.float32)
    keep = ~isin_few(recent_leaves, leaves)
    return (np.concatenate([leaves[order], recent_leaves[keep]]).astype(np.int64),
            np.concatenate([weights, recent_weights[keep]]).astype(np.float32))


def test_the_live_leaves_lead_the_recent_ones_as_the_numpy_form_orders_them():
    from ranking.recall.homepage_sources.context import ShopperContextBuilder

    rng = np.random.default_rng(9)
    for _ in range(400):
        leaf = rng.integers(0, 12, int(rng.integers(0, 25))).tolist()  # small range: repeats and ties
        n = int(rng.integers(0, 8))
        recent = rng.choice(15, n, replace=False).astype(np.int64)
        weights = rng.random(n).astype(np.float32) * 3
        c = ShopperContext(user_id=1, hour=9, slot=0, recent_leaves=recent, recent_leaf_weights=weights)
        ShopperContextBuilder.add_live_leaves(c, leaf)
        want_leaves, want_weights = _live_leaves_with_numpy(leaf, recent, weights)
        assert c.recent_leaves.dtype == np.int64 and c.recent_leaf_weights.dtype == np.float32
        assert c.recent_leaves.tolist() == want_leaves.tolist()
        assert c.recent_leaf_weights.tobytes() == want_weights.tobytes()


def test_a_live_views_recent_items_are_each_item_once_at_its_newest_place():
    from ranking.live.state import ShopperView

    rng = np.random.default_rng(4)
    for _ in range(300):
        items = rng.integers(0, 20, int(rng.integers(0, 40))).astype(np.int64)
        view = ShopperView(user_id=1, session_id=None, known=True, now_ms=0, items=items)
        _, first = np.unique(items, return_index=True)
        for n in (None, 1, 3, 50):
            got = view.recent_items(n)
            assert got.dtype == np.int64 and got.tolist() == items[np.sort(first)][:n].tolist()


def _merged_with_numpy(builder, c, live):
    """``add_live``'s recent items and weights as numpy merged them before the Python-int form."""
    from ranking.membership import isin_few
    from ranking.recall.homepage_sources.context import LIVE_DECAY

    rows = builder.product_rows(live.recent_items())
    rows = rows[rows >= 0]
    top = float(c.recent_weights.max()) if len(c.recent_weights) else 1.0
    live_w = (top * LIVE_DECAY ** np.arange(len(rows))).astype(np.float32) + top
    old = ~isin_few(c.recent_items, rows)
    return (np.concatenate([rows, c.recent_items[old]]).astype(np.int64),
            np.concatenate([live_w, c.recent_weights[old]]).astype(np.float32))


def test_a_live_view_leads_the_recent_items_as_the_numpy_form_merged_them(recall):
    from ranking.live.state import ShopperView
    from ranking.recall.homepage_sources.context import ShopperContextBuilder

    rng = np.random.default_rng(11)
    ids = recall.product_ids
    unsorted = ShopperContextBuilder({**recall.a, "product_ids": ids[::-1].copy()})  # a binary search
    for trial in range(300):
        builder = recall.shopper if trial % 2 else unsorted  # dense ids, and ids that are not
        n = int(rng.integers(0, 8))
        frozen = rng.choice(40, n, replace=False).astype(np.int64)
        weights = (rng.random(n) * 3).astype(np.float32)
        # live items: repeats, items of the frozen history, and ids the bundle does not know
        unknown = [-5, int(ids.max()) + 7][:int(rng.integers(0, 3))]
        items = np.r_[ids[rng.integers(0, 40, int(rng.integers(0, 30)))], unknown]
        items = rng.permutation(items).astype(np.int64)
        view = ShopperView(user_id=1, session_id=None, known=True, now_ms=0, items=items)
        c = ShopperContext(user_id=1, hour=9, slot=0, row=0, recent_items=frozen, recent_weights=weights)
        want_items, want_weights = _merged_with_numpy(builder, c, view)
        builder.add_live(c, view)
        assert c.recent_items.dtype == np.int64 and c.recent_weights.dtype == np.float32
        assert c.recent_items.tolist() == want_items.tolist()
        assert c.recent_weights.tobytes() == want_weights.tobytes()
    assert unsorted.held_rows([int(ids[3]), -1, int(ids[0])]) == [len(ids) - 4, len(ids) - 1]


def test_one_hours_slot_is_the_vectorised_slot():
    from ranking.mall_clock import slot_index, slot_of

    assert [slot_of(h) for h in range(24)] == slot_index(np.arange(24)).tolist()


def test_a_sources_scores_are_minus_its_ranks_one_read_only_array_per_length(recall):
    from ranking.pipeline.kept_union import union_key

    context = recall.context(USER, 9)
    got = recall.sources(USER, 9, context=context)
    assert got
    for ids, scores in got.values():
        want = -np.arange(len(ids), dtype=np.float64)
        assert scores.dtype == np.float64 and scores.tobytes() == want.tobytes()
        assert not scores.flags.writeable
        with pytest.raises(ValueError):
            scores[0] = 1.0
    again = recall.sources(USER, 9, context=context)
    assert all(again[name][1] is scores for name, (_, scores) in got.items())  # no page makes them again
    _, held = union_key(got, None)
    assert all(any(scores is h for h in held) for _, scores in got.values())  # named by identity


def test_trendings_favourites_first_are_the_concatenated_masks_places():
    from ranking.recall.homepage_sources.trending import favourites_first

    rng = np.random.default_rng(12)
    for _ in range(3000):
        n, k = int(rng.integers(0, 400)), int(rng.integers(1, 80))
        mine = rng.random(n) < rng.choice([0.02, 0.1, 0.5, 0.9, 1.0])  # favourites rare to everywhere
        places = np.arange(n)
        want = np.concatenate([places[mine][: k // 2], places[~mine]])[:k]
        got = favourites_first(mine, k)
        assert got.tolist() == want.tolist(), (n, k)
