"""A shopper's homepage lists computed when their events reach the live state, while no page is
being ranked: the next homepage reads them kept (no personal scan), the same page; bounded; never
fatal; wired by the service for the embedded live state."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ranking.event_log import EventLog
from ranking.in_flight import InFlight
from ranking.live.applied_feed import shoppers_touched
from ranking.live.embedded import EmbeddedLiveState
from ranking.live.homepage_ahead import ShopperListsAhead
from ranking.pipeline.candidates import RankRequest
from ranking.recall.homepage_sources.personal import Personal
from ranking.settings import LiveSettings, load_settings

T0 = 1_788_256_800_000


class _Engine:
    def __init__(self, fail: bool = False) -> None:
        self.asked: list[tuple[int, int]] = []
        self.fail = fail

    def warm_homepage(self, user, hour, view) -> bool:
        if self.fail:
            raise RuntimeError("swapped away")
        self.asked.append((user, hour))
        return True


def _until(check, seconds: float = 15.0) -> None:
    stop = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < stop, "not in time"
        time.sleep(0.005)


def test_shoppers_are_warmed_oldest_first_only_while_no_request_is_in_flight() -> None:
    recall, pages = _Engine(), InFlight()
    ahead = ShopperListsAhead(lambda: [recall], lambda u: SimpleNamespace(known=u != 9), lambda: 20,
                              pending_max=3, busy=pages).start()
    try:
        with pages.held():
            ahead.add([1, 2, 1, 9])  # 1 asked again waits from then: 2, 1, 9
            time.sleep(0.05)
            assert recall.asked == [] and ahead.pending == 3  # a request in flight: nothing started
            ahead.add([4])  # a fourth: the oldest (2) dropped
            assert ahead.dropped == 1
        _until(lambda: ahead.pending == 0 and ahead.warmed == 2)
        assert recall.asked == [(1, 20), (4, 20)]  # 9's view is unknown: nothing to compute
    finally:
        ahead.stop()


def test_a_failure_is_counted_and_the_thread_goes_on() -> None:
    recall = _Engine(fail=True)
    ahead = ShopperListsAhead(lambda: [recall], lambda u: SimpleNamespace(known=True), lambda: 8).start()
    try:
        ahead.add([1, 2])
        _until(lambda: ahead.failed == 2)
        recall.fail = False
        ahead.add([3])
        _until(lambda: ahead.warmed == 1)
    finally:
        ahead.stop()
    assert recall.asked == [(3, 8)]


def test_a_poll_tells_its_signed_in_shoppers(tmp_path: Path) -> None:
    log = EventLog(tmp_path, writer="w")
    live = EmbeddedLiveState(LiveSettings(), tmp_path)
    told: list[list[int]] = []
    live.on_shoppers = told.append
    click = {"timestamp": T0, "product_id": 5, "position": 1}
    log.append({"clicks": [dict(click, request_id=1, user_id=7), dict(click, request_id=2, user_id=None,
                                                                          session_id="s"),
                           dict(click, request_id=3, user_id=8), dict(click, request_id=4, user_id=7)]})
    assert live.catch_up() == 4
    log.append({"impressions": [{"request_id": 5, "timestamp": T0, "user_id": 9, "product_id": 5,
                                 "position": 1, "surface": "homepage"}]})
    assert live.catch_up() == 1
    assert told == [[7, 8]]  # impressions change no shopper's homepage history
    live.stop()


def test_shoppers_touched_reads_clicks_carts_and_orders_only() -> None:
    import pyarrow as pa

    tables = {"clicks": pa.table({"user_id": [3, None, 4]}), "orders": pa.table({"user_id": [4, 6]}),
              "impressions": pa.table({"user_id": [99]})}
    assert shoppers_touched(tables) == [3, 4, 6]


@pytest.fixture(scope="module")
def engine(small_models: Path):
    from ranking.engine import Engine

    eng = Engine.load(small_models / "latest", load_settings([]))
    yield eng
    eng.close()


def test_the_next_homepage_reads_the_lists_kept_and_is_the_same_page(engine, small_models,
                                                                     monkeypatch) -> None:
    from ranking.engine import Engine
    from ranking.live.state import ShopperView

    recall = engine.homepage_recalls()[0]
    user = int(recall.shopper.a["user_ids"][3])
    rows, cols = [11, 40, 77], engine.snapshot.products.columns
    view = ShopperView(user, None, True, engine.snapshot.as_of_ms, items=engine.snapshot.products.ids[rows],
                       times_ms=np.full(3, engine.snapshot.as_of_ms), kinds=np.zeros(3, np.int8),
                       leaves=np.asarray(cols["category_id"][rows], np.int64),
                       stores=np.asarray(cols["store_id"][rows], np.int64),
                       brands=np.asarray(cols["brand_id"][rows], np.int64))
    request = RankRequest(surface="homepage", page_size=20, user_id=user, hour=20, shopper=view,
                          now_ms=engine.snapshot.as_of_ms)
    other = Engine.load(small_models / "latest", load_settings([]))  # the page without lists ahead
    try:
        want = [c["product_id"] for c in other.rank("homepage", request).cards]
    finally:
        other.close()
    scans = []
    search = Personal.search
    monkeypatch.setattr(Personal, "search", lambda self, c, k: scans.append(k) or search(self, c, k))
    ahead = ShopperListsAhead(lambda: [engine, engine], lambda u: view, lambda: 20)  # once each
    ahead.warm(user)
    assert ahead.warmed == 1 and len(scans) == 1  # the scan ran ahead of the page
    got = [c["product_id"] for c in engine.rank("homepage", request).cards]
    assert len(scans) == 1 and got == want  # the page read it kept: no scan, the same cards


def test_the_service_wires_it_to_the_embedded_live_state_and_stops_it() -> None:
    from serving.live import start_lists_ahead, stop_live

    live = SimpleNamespace(on_shoppers=None, stop=lambda: None)
    state = SimpleNamespace(settings=load_settings([]), live=live, router=None, lists_ahead=None)
    start_lists_ahead(state)
    ahead = state.lists_ahead
    assert isinstance(ahead, ShopperListsAhead) and live.on_shoppers == ahead.add
    stop_live(state)
    assert state.lists_ahead is None and not ahead._thread.is_alive()
    assert live.on_shoppers is None  # the tail tells nobody once stopped
    off = SimpleNamespace(settings=load_settings(["recall.homepage_lists_ahead=false"]),
                          live=SimpleNamespace(on_shoppers=None), router=None, lists_ahead=None)
    start_lists_ahead(off)
    assert off.lists_ahead is None and off.live.on_shoppers is None
    silent = SimpleNamespace(settings=load_settings([]), live=SimpleNamespace(stop=lambda: None),
                             router=None, lists_ahead=None)  # no on_shoppers (a mall's own backend)
    start_lists_ahead(silent)
    assert silent.lists_ahead is None and not hasattr(silent.live, "on_shoppers")


def test_the_idle_event_follows_the_requests_in_flight() -> None:
    pages = InFlight()
    assert pages.idle.is_set()
    with pages.held():
        pages.enter()  # a second request
        assert not pages.idle.is_set() and pages.count == 2
        pages.leave()
        assert not pages.idle.is_set()
    assert pages.idle.is_set() and pages.count == 0


def test_a_request_in_flight_in_the_service_holds_the_work_back(small_models: Path) -> None:
    """The admission middleware counts an admitted request (the warm waits for none in flight)."""
    import asyncio

    from ranking.in_flight import IN_FLIGHT
    from serving.admission import AdmissionMiddleware

    seen = []

    async def app(scope, receive, send):
        seen.append(IN_FLIGHT.idle.is_set())

    asyncio.run(AdmissionMiddleware(app, 4, 1.0, 1)({"type": "http", "path": "/v1/homepage"}, None, None))
    assert seen == [False] and IN_FLIGHT.idle.is_set()
