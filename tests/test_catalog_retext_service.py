"""Issue 26 leftover end to end: a known product's new title and category on a real 2-worker
service, both live backends. Within a second of the catalog API's answer, on every worker: a
retitled product is found by its new word (lexical) and its new text (dense) and no longer by its
old word, its card shows the new title, and a product moved to another leaf is recalled for a
shopper by top_categories (that leaf's list), which did not recall it before; after kill -9 and
a restart every change is still there."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import numpy as np
import pytest
import test_catalog_service as catalog_service
from service_process import start_service, stop_service
from test_catalog_service import STREAK, _send, _within

from ranking.engine import Engine
from ranking.features.snapshot import FeatureSnapshot
from ranking.live.known_product_text import retext_products
from ranking.live.new_product_homepage import merit_of
from ranking.pipeline import RankRequest
from ranking.settings import load_settings

pytestmark = pytest.mark.slow
live_sets = catalog_service.live_sets  # the fixture: each backend, Redis under a prefix of its own
HOUR = 20
# The test's shopper asks for the same 100-card page dozens of times at one request time, and the
# service logs every page as impressions: from the third showing without a click the live-history
# filter drops a card as ``ignored`` (live.ignore_after_impressions, 3), which the pick's engine
# (live off) never does. Only 12 cards per shopper are tracked (live.ignored_items) and cards shown
# at the same time enter by product row, so which ones get dropped depends on the ids: since the
# issue-29 mall the moved product (341) is among the 12 lowest ids of the page and came and went
# (shown 3 times, dropped, forgotten when newer cards took its slot, shown again); before, the moved
# product (1224) was never tracked. The service here counts no card as ignored within the test, so it
# serves the page the pick saw; tests/test_live_pipeline.py covers the filter.
NOT_IGNORED = ["live.ignore_after_impressions=65535"]


def _homepage_ids(engine: Engine, user: int) -> dict[int, list[str]]:
    request = RankRequest(surface="homepage", page_size=100, now_ms=engine.snapshot.as_of_ms, hour=HOUR,
                          user_id=user)
    page = engine.rank("homepage", request)
    return {c["product_id"]: c["sources"] for c in page.cards}


def _pick(models: Path) -> dict:
    """A product to retitle, its new text, and a product, a leaf and a shopper whose homepage shows
    that product from top_categories once it is moved to that leaf, and not before: found on an
    engine here."""
    engine = Engine.load(models / "latest", load_settings(["live.backend=off"]))
    try:
        snap = engine.snapshot
        cols, ids = snap.products.columns, snap.products.ids
        live = np.flatnonzero((cols["banned"] == 0) & (cols["stock"] > 0))
        brands = [n for n in snap.text.brand_names.values() if n.isascii() and len(n) >= 5][:3]
        merit = merit_of(snap.products, ids)
        moved = int(ids[live[np.argmax(merit[live])]])
        moved_cat = int(cols["category_id"][snap.products.rows(np.array([moved]))[0]])
        users = snap.users.ids[:60].tolist()
        shown_before = {u: _homepage_ids(engine, u) for u in users}
        home = next(r.homepage for r in engine.recall if r.homepage is not None)
        none = (np.array([], np.int64), None)
        lists = [home.sources(u, HOUR).get("top_categories", none)[0] for u in users]
        heads = [int(i[0]) for i in lists if len(i)]
        for head in heads:
            cat = int(cols["category_id"][snap.products.rows(np.array([head]))[0]])
            if cat == moved_cat:
                continue
            retext_products(engine, [{"product_id": moved, "category_id": cat}])
            for u in users:
                after = _homepage_ids(engine, u).get(moved, [])
                if "top_categories" not in shown_before[u].get(moved, []) and "top_categories" in after:
                    return {"retitled": int(ids[live[3]]), "brands": " ".join(brands), "moved": moved,
                            "category": cat, "user": int(u)}
            retext_products(engine, [{"product_id": moved, "category_id": moved_cat}])
    finally:
        engine.close()
    raise AssertionError("no shopper's homepage shows the moved product from its new leaf")


@pytest.fixture(scope="module")
def pick(small_models: Path) -> dict:
    """``_pick`` once for both backends: it reads only the bundle, in this process (1-3 s)."""
    return _pick(small_models)


def _search_cards(url: str, query: str) -> dict[int, dict]:
    r = httpx2.post(f"{url}/v1/search", json={"query": query, "page_size": 40}, timeout=10)
    assert r.status_code == 200, r.text
    return {c["product_id"]: c for c in r.json()["cards"]}


def test_a_retitled_and_a_recategorised_product_reach_every_worker_within_a_second(small_models, tmp_path,
                                                                                   live_sets, pick):
    from conftest import record_reliability

    pid, moved, user = pick["retitled"], pick["moved"], pick["user"]
    first, second = "zorblaxomega thermos flask", f"{pick['brands']} quizzleprime kettle"
    as_of = FeatureSnapshot.load(small_models / "latest" / "snapshot").as_of_ms
    body = {"user_id": user, "page_size": 100,
            "context": {"hour": HOUR, "time": datetime.fromtimestamp(as_of / 1000, UTC).isoformat()}}

    def homepage() -> dict[int, list[str]]:
        r = httpx2.post(f"{url}/v1/homepage", json=body, timeout=10)  # a fresh connection: any worker
        assert r.status_code == 200, r.text
        return {c["product_id"]: c["sources"] for c in r.json()["cards"]}

    def retitled(cards: dict[int, dict]) -> bool:
        return pid in cards and cards[pid]["title"] == first

    def found_anew() -> bool:
        new, old = _search_cards(url, "quizzleprime"), _search_cards(url, "zorblaxomega")
        dense = _search_cards(url, second)
        return pid in new and pid not in old and "dense" in dense.get(pid, {}).get("sources", [])

    sets = [*live_sets, *NOT_IGNORED]
    proc, url = start_service(small_models, tmp_path / "events", workers=2, extra=sets)
    try:
        for _ in range(STREAK):
            assert pid not in _search_cards(url, "zorblaxomega")
            assert "top_categories" not in homepage().get(moved, [])
        seconds = {}
        acked = _send(url, "PUT", "/v1/catalog/products", [{"product_id": pid, "title": first}])
        seconds["retitle"] = _within(lambda: _search_cards(url, "zorblaxomega"), retitled, acked)
        acked = _send(url, "PUT", "/v1/catalog/products", [{"product_id": pid, "title": second}])
        seconds["retitle_again"] = _within(found_anew, bool, acked)
        change = [{"product_id": moved, "category_id": pick["category"]}]
        acked = _send(url, "PUT", "/v1/catalog/products", change)
        seconds["category"] = _within(homepage, lambda ids: "top_categories" in ids.get(moved, []), acked)
        backend = "redis" if "live.backend=redis" in live_sets else "embedded"
        record_reliability(f"catalog_retext_2_workers_{backend}", **seconds)
        assert max(seconds.values()) < 1.0, seconds

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc, url = start_service(small_models, tmp_path / "events", workers=2, extra=sets)
        for _ in range(STREAK):  # every worker, at its first answers after the restart
            assert found_anew()
            assert _search_cards(url, "quizzleprime")[pid]["title"] == second
            assert "top_categories" in homepage().get(moved, [])
    finally:
        stop_service(proc)
