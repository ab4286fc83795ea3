"""The homepage follows a live restock and unban (issue 26 leftovers): the homepage sources'
ranked lists keep every product and read one availability mask, which the live catalog
replaces after each overlay (ranking/recall/homepage_sources/availability.py). A product sold
out or banned when the bundle was built is in no source until the catalog restocks or unbans
it, is then recalled and shown on homepage pages, and leaves again when it sells out; on a real
2-worker service, on both live backends, within a second of the catalog API's answer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx2
import numpy as np
import pytest
import test_catalog_service as catalog_service
from service_process import start_service, stop_service
from test_catalog_availability import Catalog, _page
from test_catalog_service import STREAK, _send, _within

from ranking.engine import Engine
from ranking.features.snapshot import FeatureSnapshot
from ranking.recall.homepage_sources import Availability
from ranking.settings import load_settings

HOURS = (9, 14, 20)
live_sets = catalog_service.live_sets  # the fixture: each backend, Redis under a prefix of its own


@pytest.fixture(scope="module")
def engine(small_models: Path) -> Engine:
    return Engine.load(small_models / "latest", load_settings(["live.backend=off"]))


def _homepage(engine: Engine):
    return next(r.homepage for r in engine.recall if r.homepage is not None)


def _recalled(engine: Engine, users: list[int]) -> set[int]:
    """Every product any homepage source gives these users at these hours."""
    recall, out = _homepage(engine), set()
    for user in users:
        for hour in HOURS:
            for ids, _ in recall.sources(user, hour).values():
                out.update(ids.tolist())
    return out


def _shown(engine: Engine, users: list[int]) -> set[int]:
    return {p for user in users for hour in HOURS for p in _page(engine, "homepage", user_id=user, hour=hour)}


def test_restocked_and_unbanned_products_return_to_the_homepage_sources_and_pages(engine: Engine,
                                                                                    tmp_path: Path) -> None:
    cols = engine.snapshot.products.columns
    ids = engine.snapshot.products.ids
    merit = np.nan_to_num(cols["product_score"])
    sold_out = ids[(cols["stock"] <= 0) & (cols["banned"] == 0)]
    sold_out = sold_out[np.argsort(-merit[engine.snapshot.products.rows(sold_out)], kind="stable")][:8]
    banned = ids[cols["banned"] > 0]
    assert len(sold_out) == 8 and len(banned) >= 1
    users = engine.snapshot.users.ids[:60].tolist()
    away = set(sold_out.tolist()) | set(banned.tolist())
    assert not _recalled(engine, users) & away  # the bundle's mask: none of them before

    catalog = Catalog([engine], tmp_path / "events")
    catalog.products([{"product_id": int(p), "stock": 120} for p in sold_out])
    catalog.ban(product_ids=banned.tolist(), unban=True)
    recalled = _recalled(engine, users)
    assert recalled & set(sold_out.tolist()), "a restocked product is recalled by the homepage lists"
    assert recalled & set(banned.tolist()), "an unbanned product is recalled by the homepage lists"
    assert _shown(engine, users) & away, "and shown on some shopper's homepage"

    catalog.products([{"product_id": int(p), "stock": 0} for p in sold_out])
    catalog.ban(product_ids=banned.tolist())
    assert not _recalled(engine, users) & away  # sold out and banned again: out of the lists again


def test_the_lists_hold_unavailable_products_the_mask_skips() -> None:
    ranked = np.array([5, 3, 9, 1, 7, 0, 2], np.int64)
    mask = np.ones(12, bool)
    mask[[3, 9, 7]] = False
    first = Availability(mask).head
    assert first(ranked, 3).tolist() == [5, 1, 0]
    assert first(ranked, 10).tolist() == [5, 1, 0, 2]  # deeper than the head when too much is out
    assert first(np.array([14, 3, 11]), 2).tolist() == [14, 11]  # rows past the mask: listed later
    assert Availability(None).head(ranked, 3).tolist() == [5, 3, 9]  # an older bundle: as listed


def _restock_pick(models: Path, tmp_path: Path) -> tuple[list[int], int, int]:
    """The 8 best products sold out at bundle time, and a shopper whose homepage (hour 20, 100
    cards) shows one of them once they are restocked: found on an engine of this process."""
    engine = Engine.load(models / "latest", load_settings(["live.backend=off"]))
    try:
        cols, ids = engine.snapshot.products.columns, engine.snapshot.products.ids
        sold_out = ids[(cols["stock"] <= 0) & (cols["banned"] == 0)]
        merit = np.nan_to_num(cols["product_score"])[engine.snapshot.products.rows(sold_out)]
        sold_out = sold_out[np.argsort(-merit, kind="stable")][:8].tolist()
        Catalog([engine], tmp_path / "pick").products([{"product_id": p, "stock": 120} for p in sold_out])
        for user in engine.snapshot.users.ids[:100].tolist():
            shown = set(_page(engine, "homepage", user_id=user, hour=20, page_size=100)) & set(sold_out)
            if shown:
                return sold_out, int(user), min(shown)
    finally:
        engine.close()
    raise AssertionError("no shopper's homepage shows a restocked product")


Pick = tuple[list[int], int, int]  # the sold-out products, a shopper, the one their homepage shows


@pytest.fixture(scope="module")
def restock_pick(small_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Pick:
    """``_restock_pick`` once for both backends: it reads only the bundle, in this process."""
    return _restock_pick(small_models, tmp_path_factory.mktemp("restock-pick"))


@pytest.mark.slow
def test_a_restock_reaches_every_workers_homepage_within_a_second(small_models: Path, tmp_path: Path,
                                                                   live_sets: list[str],
                                                                   restock_pick: Pick) -> None:
    from conftest import record_reliability

    sold_out, user, product = restock_pick
    as_of = FeatureSnapshot.load(small_models / "latest" / "snapshot").as_of_ms
    body = {"user_id": user, "page_size": 100,
            "context": {"hour": 20, "time": datetime.fromtimestamp(as_of / 1000, UTC).isoformat()}}

    def page() -> set[int]:
        r = httpx2.post(f"{url}/v1/homepage", json=body, timeout=10)  # a fresh connection: any worker
        assert r.status_code == 200, r.text
        return {c["product_id"] for c in r.json()["cards"]}

    proc, url = start_service(small_models, tmp_path / "events", workers=2, extra=live_sets)
    try:
        for _ in range(STREAK):
            assert not page() & set(sold_out)
        seconds = {}
        acked = _send(url, "PUT", "/v1/catalog/products", [{"product_id": p, "stock": 120} for p in sold_out])
        seconds["restock"] = _within(page, lambda ids: product in ids, acked)
        acked = _send(url, "PUT", "/v1/catalog/products", [{"product_id": p, "stock": 0} for p in sold_out])
        seconds["stock_out"] = _within(page, lambda ids: not ids & set(sold_out), acked)
        backend = "redis" if "live.backend=redis" in live_sets else "embedded"
        record_reliability(f"homepage_restock_2_workers_{backend}", **seconds)
        assert max(seconds.values()) < 1.0, seconds
    finally:
        stop_service(proc)


def test_the_cached_available_segments_hold_each_segments_available_rows_and_follow_a_new_mask() -> None:
    rows = np.array([5, 3, 9, 1, 7, 0, 2, 14, 11, 4], np.int64)
    ptr = np.array([0, 4, 4, 10], np.int64)  # three segments, the middle one empty
    mask = np.ones(12, bool)
    mask[[3, 9, 7, 11]] = False
    availability = Availability(mask)

    def expected(k: int) -> list[list[int]]:
        def available(r: int) -> bool:
            return r >= len(availability.mask) or bool(availability.mask[r])

        return [[r for r in rows[ptr[i]:ptr[i + 1]].tolist() if available(r)][:k] for i in range(3)]

    for k in (1, 2, 5):
        got = availability.first_of_segments(rows, ptr, np.array([0, 1, 2]), k)
        assert [g.tolist() for g in got] == expected(k)
    assert availability.head(rows, 4).tolist() == [5, 1, 0, 2]
    kept = availability.segments(rows, ptr)[0]
    assert availability.segments(rows, ptr)[0] is kept  # computed once for this mask and list
    availability.mask = np.ones(12, bool)  # the live catalog restocks everything: a new mask
    assert availability.head(rows, 4).tolist() == [5, 3, 9, 1]
    again = availability.first_of_segments(rows, ptr, np.array([2, 0]), 2)
    assert [g.tolist() for g in again] == [[7, 0], [5, 3]]
    copy = rows.copy()  # a replaced list (new products appended) is read afresh
    copy[0] = 6
    assert availability.head(copy, 2).tolist() == [6, 3]
    assert Availability(None).first_of_segments(rows, ptr, np.array([2]), 2)[0].tolist() == [7, 0]
