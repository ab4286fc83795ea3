"""Cold start in the engine over a trained bundle: the budget's slots on the homepage and search,
the live state's counts (both backends) in the posterior, the report command and the week."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from ranking.cold_start import new_products
from ranking.engine import Engine
from ranking.pipeline import RankRequest
from ranking.settings import load_settings


@pytest.fixture(scope="module")
def engine(small_models):
    eng = Engine.load(small_models / "latest", load_settings([]))
    yield eng
    eng.close()


def _notes(card):
    return [n for n in card["explanation"]["rules"] if n["rule"] == "cold_start"]


def _request(engine, surface, seed, **kw):
    snap = engine.snapshot
    return RankRequest(surface, 20, snap.as_of_ms, 14, user_id=int(snap.users.ids[seed % 50]), explain=True,
                       seed=seed, **kw)


def test_the_homepage_and_search_place_new_products_in_their_budgets(engine):
    snap, budget = engine.snapshot, engine.settings.cold_start.slots
    new = np.logical_or(*new_products(snap, snap.products.ids, snap.as_of_ms, engine.settings.cold_start))
    assert new.sum() > 50, "the small mall's new stores' products are new at the snapshot"
    words = [w for w in snap.text.vocabulary if len(w) >= 2]
    placed = {"homepage": [], "search": []}
    for seed in range(12):
        for surface, kw in (("homepage", {}), ("search", {"query": words[seed]})):
            page = engine.rank(surface, _request(engine, surface, seed, **kw))
            for card in page.cards:
                slot = [n for n in _notes(card) if "position" in n]
                if slot:
                    assert card["position"] in budget[surface] and slot[0]["position"] == card["position"]
                    assert card["propensity"] == slot[0]["propensity"] and 0 < card["propensity"] <= 1
                    assert new[snap.products.rows(np.array([card["product_id"]]))[0]]
                    placed[surface].append(card["position"])
    assert sorted(set(placed["homepage"])) == budget["homepage"] and len(placed["homepage"]) == 24
    assert placed["search"], "search explores among the candidates that passed its relevance floor"


def test_the_page_is_the_same_for_the_same_request_seed(engine):
    a, b = (engine.rank("homepage", _request(engine, "homepage", 3)) for _ in range(2))
    assert [(c["product_id"], c["propensity"]) for c in a.cards] == \
        [(c["product_id"], c["propensity"]) for c in b.cards]
    others = {tuple(c["product_id"] for c in engine.rank("homepage", _request(engine, "homepage", s)).cards
                    if any("position" in n for n in _notes(c))) for s in range(50, 60)}
    assert len(others) > 1


def test_the_live_states_counts_join_the_bundles_in_the_posterior(engine, live_backend):
    from ranking.cold_start import LeafRates, cold_start_view
    from ranking.live import LiveState

    snap, settings = engine.snapshot, engine.settings.cold_start
    request = _request(engine, "homepage", 5)
    card = next(c for c in engine.rank("homepage", request).cards if any("position" in n for n in _notes(c)))
    state = live_backend(engine.settings.live)
    if isinstance(state, LiveState):
        ids, leaves, _ = engine.product_leaves()
        state.catalog.describe(ids, leaf=leaves)
    t, pid = request.now_ms - 60_000, card["product_id"]
    state.apply("impressions", [{"user_id": 1, "timestamp": t + i, "product_id": pid, "request_id": i,
                                 "position": 1} for i in range(40)])
    state.apply("orders", [{"user_id": 1, "timestamp": t + 100, "product_id": pid, "request_id": 1,
                            "store_id": card["store_id"], "price_paid": 9.5, "quantity": 1,
                            "cancelled": False}])
    rates = LeafRates.of(snap, settings.prior_strength)
    bundle = cold_start_view(snap, np.array([pid]), request.now_ms, None, settings, rates).posterior
    live = cold_start_view(snap, np.array([pid]), request.now_ms, state.product_signals, settings,
                           rates).posterior
    note = _notes(card)[0]
    assert (bundle.impressions[0], bundle.orders[0]) == (note["impressions"], note["orders"])
    assert live.impressions[0] == bundle.impressions[0] + 40 and live.orders[0] == bundle.orders[0] + 1
    assert live.order_alpha[0] == bundle.order_alpha[0] + 1


def test_the_report_command_lists_the_new_products(small_models, tmp_path):
    import json

    from shelfrank.cli import app

    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["cold-start", "report", "--bundle", str(small_models / "latest"),
                                      "--limit", "5", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert len(report["products"]) == sum(report["stages"].values()) > 50
    assert f"{len(report['products']):,} new products" in result.output
    assert all(p["new_product"] or p["new_store"] for p in report["products"])


def test_a_short_week_shows_new_products_more_with_cold_start(small_mall, small_models):
    from training.experiments.cold_start_week import run_cold_start_week

    result = run_cold_start_week(small_mall, small_models / "latest",
                                 {"off": ["cold_start.enabled=false"], "on": []}, 40, 2, 7, progress=False)
    off, on = result["arms"]["off"], result["arms"]["on"]
    assert off["sessions"] == on["sessions"] == 40
    assert on["new_share_of_impressions"]["value"] > off["new_share_of_impressions"]["value"] + 0.03
    share = result["comparison"]["new_share_of_orders"]
    assert share["ci95"][0] <= share["difference"] <= share["ci95"][1]
