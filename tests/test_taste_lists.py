"""The shoppers' kept ``personal`` lists are the scan's own lists, ties included, and read only when exact."""

from __future__ import annotations

import numpy as np
import pytest
from homepage_mall import QUOTAS, tiny_mall

from ranking.recall import row_neighbours, taste_lists
from ranking.recall.homepage import HomepageRecall
from ranking.recall.homepage_sources import FittedHomepage, ShopperContext
from ranking.recall.homepage_sources.personal import Personal
from ranking.recall.taste_lists import TasteLists
from ranking.recall.vector_index import VectorIndex


def _arrays(rng: np.random.Generator, n_items: int = 1_500, n_users: int = 240, d: int = 6) -> dict:
    """Item vectors from a few bases (scores tied with many others, at the k-th place too), a third
    zero, and shoppers with 0-20 recent items (some only zero-vector items: no taste)."""
    base = rng.normal(size=(12, d)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vectors = base[rng.integers(0, len(base), n_items)]
    spread = rng.normal(size=(n_items // 3, d)).astype(np.float32)
    vectors[: n_items // 3] = spread / np.linalg.norm(spread, axis=1, keepdims=True)
    vectors[rng.random(n_items) < 0.3] = 0.0
    zero_rows = np.flatnonzero(~vectors.any(axis=1))
    lengths = rng.integers(0, 21, n_users)
    lengths[:3] = 0
    items, weights = [], []
    for u, n in enumerate(lengths.tolist()):
        pool = zero_rows if u in (3, 4) else np.arange(n_items)  # 3 and 4: only untouched products
        items.append(rng.choice(pool, n, replace=False))
        weights.append(np.sort(rng.choice([0.5, 1.0, 2.0, 4.0], n))[::-1].astype(np.float32))
    return {"product_ids": np.arange(n_items, dtype=np.int64) * 3 + 7, "item_vectors": vectors,
            "user_ids": np.arange(n_users, dtype=np.int64) + 100,
            "recent_ptr": np.r_[0, np.cumsum(lengths)].astype(np.int64),
            "recent_items": np.concatenate(items).astype(np.int64),
            "recent_weights": np.concatenate(weights).astype(np.float32)}


def _context(a: dict, row: int, live: bool = False) -> ShopperContext:
    lo, hi = a["recent_ptr"][row], a["recent_ptr"][row + 1]
    return ShopperContext(user_id=int(a["user_ids"][row]), hour=12, slot=1, row=row, live=live,
                          recent_items=a["recent_items"][lo:hi], recent_weights=a["recent_weights"][lo:hi])


@pytest.fixture(scope="module")
def tied() -> tuple[dict, VectorIndex]:
    a = _arrays(np.random.default_rng(5))
    return a, VectorIndex.build(a["item_vectors"], a["product_ids"])


@pytest.mark.parametrize(("k", "threads"), [(20, 1), (85, 2), (150, 2)])  # faiss's heap, both, its reservoir
def test_kept_lists_are_the_scans_for_every_shopper_ties_included(one_faiss_thread, tied, k, threads) -> None:
    a, index = tied
    kept = TasteLists.compute(index, a, k, 1e9, threads)
    scan = Personal(FittedHomepage(a, index), {"personal": k})
    listed = 0
    for row in range(len(a["user_ids"])):
        context = _context(a, row)
        if not len(context.recent_items):
            assert kept.of(row, k) is None  # no history: nothing kept (personal lists nothing)
            continue
        want = scan.search(context, k)
        assert np.array_equal(index.ids[kept.of(row, k)], want), row
        listed += len(want) > 0
    assert listed > 200 and len(kept.of(3, k)) == 0  # zero taste: an empty list, as the scan's


def test_the_tied_scores_make_the_test_able_to_fail(one_faiss_thread, tied) -> None:
    """Among tied items the scan's choice is its own: the sum of the vectors taken in another order
    (a taste a bit apart) lists others for some shopper, so the lists above are not equal by luck."""
    a, index = tied
    scan = Personal(FittedHomepage(a, index), {"personal": 150})
    apart = 0
    for row in range(5, 80):
        context = _context(a, row)
        taste = np.add.reduce(a["item_vectors"][context.recent_items[::-1]] *
                              context.recent_weights[::-1, None], axis=0, keepdims=True)
        _, ids = index.search(taste, 150 + len(context.recent_items))
        other = taste_lists.unseen(ids[0], a["product_ids"][context.recent_items], 150)
        apart += not np.array_equal(other, scan.search(context, 150))
    assert apart > 0


def test_the_bound_keeps_the_strongest_shoppers_and_the_rest_scan(tied) -> None:
    a, index = tied
    k = 30
    kept = TasteLists.compute(index, a, k, 10 * (4 * k + taste_lists.SHOPPER_BYTES), 1)
    held = [row for row in range(len(a["user_ids"])) if kept.of(row, k) is not None]
    ptr, w = a["recent_ptr"], a["recent_weights"]
    strength = np.array([w[ptr[u]:ptr[u + 1]].sum() for u in range(len(ptr) - 1)])
    assert len(held) == 10 and set(held) == set(np.argsort(-strength, kind="stable")[:10].tolist())
    assert kept.nbytes <= 10 * (4 * k + taste_lists.SHOPPER_BYTES) + 4 * len(ptr) + 8
    assert TasteLists.compute(index, a, k, 0, 1).of(int(held[0]), k) is None


def test_personal_reads_a_kept_list_only_for_the_bundles_own_history(tied, monkeypatch) -> None:
    a, index = tied
    kept = TasteLists.compute(index, a, 40, 1e9, 1)
    source = Personal(FittedHomepage(a, index, tastes=kept), {"personal": 40})
    scanned = []
    search = index.search
    monkeypatch.setattr(index, "search", lambda q, k: scanned.append(k) or search(q, k))
    got = source.candidates(_context(a, 9), 40)
    assert scanned == [] and np.array_equal(got, index.ids[kept.of(9, 40)]) and not got.flags.writeable
    live = _context(a, 9, live=True)  # a live view merged: its recent items are not the bundle's
    assert np.array_equal(source.candidates(live, 40), got) and len(scanned) == 1
    source.candidates(_context(a, 10), 39)  # another quota than the build's: scanned
    assert len(scanned) == 2
    stranger = _context(a, 11)
    stranger.row = -1
    source.candidates(stranger, 40)
    assert len(scanned) == 3


def test_saved_lists_load_only_under_their_arrays_and_faiss_arithmetic(tied, tmp_path, monkeypatch) -> None:
    a, index = tied
    assert TasteLists.load(tmp_path, a) is None  # a bundle from before: none
    kept = TasteLists.compute(index, a, 25, 1e9, 1)
    kept.save(tmp_path)
    back = TasteLists.load(tmp_path, a)
    assert back is not None and back.k == 25 and not back.rows.flags.writeable
    assert all(np.array_equal(back.of(r, 25), kept.of(r, 25)) for r in range(5, len(a["user_ids"])))
    other = dict(a, recent_weights=a["recent_weights"] * 2)
    assert TasteLists.load(tmp_path, other) is None  # other histories than the lists were computed from
    monkeypatch.setattr(row_neighbours, "faiss_arithmetic", lambda: {"faiss": "0.0", "simd": "NONE"})
    assert TasteLists.load(tmp_path, a) is None


def test_a_bundle_fitted_with_the_lists_serves_the_same_homepages(one_faiss_thread, tmp_path) -> None:
    tables, as_of, catalog = tiny_mall()
    plain = HomepageRecall.fit_catalog(tables, as_of, catalog, QUOTAS)
    listed = HomepageRecall.fit_catalog(tables, as_of, catalog, QUOTAS, personal_lists_mb=1.0)
    assert plain.tastes is None and listed.tastes is not None
    listed.save(tmp_path)
    loaded = HomepageRecall.load(tmp_path)
    assert loaded.tastes is not None and loaded.tastes.meta == listed.tastes.meta
    for user in [*plain.user_ids.tolist(), 999]:
        want = plain.sources(user, 14)
        for recall in (listed, loaded):
            got = recall.sources(user, 14)
            assert want.keys() == got.keys()
            assert all(np.array_equal(want[n][0], got[n][0]) for n in want), user
    kept = loaded.tastes
    loaded.replace_arrays(dict(loaded.a))  # products appended keep the users' arrays: the lists stay
    assert next(s for s in loaded.components if isinstance(s, Personal)).fitted.tastes is kept is not None
    loaded.replace_arrays(dict(loaded.a, recent_weights=loaded.a["recent_weights"].copy()))  # other ones
    assert loaded.tastes is None
    assert next(s for s in loaded.components if isinstance(s, Personal)).fitted.tastes is None
