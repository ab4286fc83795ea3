"""The channel pipelines over a real small bundle: the subsidy channel's eligibility, theme,
sessions and pacing; category pages holding only their category."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.channel_pacing import day_start_ms
from ranking.engine import Engine
from ranking.features.snapshot import EntityTable
from ranking.pipeline import RankRequest
from ranking.pipeline.adjusters.subsidy_theme import theme_products
from ranking.pipeline.candidates import CandidateSet
from ranking.recall.subsidy_channel import subsidy_eligible
from ranking.settings import ChannelSettings, load_settings

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def engine(small_models: Path) -> Engine:
    return Engine.load(small_models / "latest", load_settings([]))


def _at(engine: Engine, hour: int, minute: int = 0) -> int:
    """Epoch ms of ``hour:minute`` on the snapshot's mall-local day."""
    return day_start_ms(engine.snapshot.as_of_ms, "Asia/Shanghai") + hour * HOUR_MS + minute * 60_000


def _subsidy(engine: Engine, hour: int, minute: int = 0, exposures: dict | None = None, size: int = 20,
             user: int | None = 3):
    request = RankRequest(surface="channel", page_size=size, now_ms=_at(engine, hour, minute), hour=hour,
                          user_id=user, explain=True, channel="subsidy", channel_exposures=exposures)
    return engine.rank("subsidy", request)


def _rules(card: dict) -> dict[str, float]:
    return {n["rule"]: n.get("delta", 0.0) for n in card["explanation"]["rules"]}


def test_the_subsidy_channel_shows_only_eligible_products(engine, small_mall):
    products = pd.read_parquet(small_mall / "products.parquet").set_index("product_id")
    tiers = pd.read_parquet(small_mall / "brands.parquet").set_index("brand_id").tier
    page = _subsidy(engine, 15)
    assert len(page.cards) >= 10
    minimum = engine.settings.channels.subsidy_min_store_score
    for card in page.cards:
        row = products.loc[card["product_id"]]
        assert row.subsidy and tiers[row.brand_id] == "big_brand", card
        assert card["store_experience_score"] >= minimum and card["sources"] == ["subsidy_channel"]
    eligible = (products.subsidy & products.brand_id.map(tiers).eq("big_brand")).sum()
    assert engine.pipelines["subsidy"].sources[0].ranked_rows().size < eligible, \
        "the store score and stock cut some subsidy big-brand products"


def test_the_authenticity_guarantee_is_required_only_when_the_mall_records_it(engine):
    snap = engine.snapshot
    settings = ChannelSettings()
    cols = dict(snap.products.columns)
    cols["authentic_guarantee"] = np.zeros(len(snap.products.ids), np.float32)  # the simulator records it
    before = subsidy_eligible(dataclasses.replace(snap, products=EntityTable(snap.products.ids, dict(cols))),
                              settings)
    guaranteed = np.zeros(len(snap.products.ids), np.float32)
    guaranteed[np.flatnonzero(before)[::2]] = 1  # half of the eligible ones carry the guarantee
    cols["authentic_guarantee"] = guaranteed
    recorded = dataclasses.replace(snap, products=EntityTable(snap.products.ids, cols))
    assert (subsidy_eligible(recorded, settings) == (before & (guaranteed > 0))).all()
    not_required = ChannelSettings(subsidy_requires_authentic=False)
    assert (subsidy_eligible(recorded, not_required) == before).all()
    cols["authentic_guarantee"] = np.zeros_like(guaranteed)  # recorded as nobody's: no filter
    nobody = dataclasses.replace(snap, products=EntityTable(snap.products.ids, cols))
    assert (subsidy_eligible(nobody, settings) == before).all()


@pytest.mark.parametrize("hour", [9, 15, 21])
def test_the_slots_theme_leads_the_channel(engine, hour):
    page = _subsidy(engine, hour, minute=30)
    cands = CandidateSet(np.array([c["product_id"] for c in page.cards]))
    theme = theme_products(cands, RankRequest(surface="channel", page_size=1, now_ms=0, hour=hour),
                           engine.snapshot)
    if not theme.any():
        pytest.skip(f"no theme product of the {hour}:00 slot is eligible in the small mall")
    # theme cards lead; one may sit lower only where the shelf's brand or store caps moved it
    assert theme[0] and np.flatnonzero(theme).mean() < np.flatnonzero(~theme).mean(), theme
    assert all("channel_theme" in _rules(c) for c, t in zip(page.cards, theme, strict=True) if t)


def test_a_subsidy_session_boosts_the_theme_only_while_it_runs(engine):
    during = _subsidy(engine, 12, minute=20)
    after = _subsidy(engine, 14, minute=20)
    sessions = [c for c in during.cards if "subsidy_session" in _rules(c)]
    assert sessions, "the 12:00 session boosted the afternoon theme"
    assert all("channel_theme" in _rules(c) for c in sessions)
    assert not any("subsidy_session" in _rules(c) for c in after.cards)


def test_pacing_damps_a_brand_ahead_and_lifts_the_ones_behind(engine):
    snap = engine.snapshot
    page = _subsidy(engine, 16, exposures={})
    brand_of = {c["product_id"]: int(snap.products.take("brand_id", snap.products.rows(
        np.array([c["product_id"]])))[0]) for c in page.cards}
    assert all(_rules(c).get("exposure_pacing", 0) > 0 for c in page.cards), "nothing delivered: all behind"
    ahead = brand_of[page.cards[0]["product_id"]]
    flooded = {pid: 10_000 for pid, b in brand_of.items() if b == ahead}
    paced = _subsidy(engine, 16, exposures=flooded)
    for card in paced.cards:
        move = _rules(card)["exposure_pacing"]
        assert (move < 0) if brand_of.get(card["product_id"]) == ahead else (move > 0), card
    def first_place(cards: list[dict]) -> int:
        return min(c["position"] for c in cards if brand_of.get(c["product_id"]) == ahead)

    assert first_place(paced.cards) > first_place(page.cards), "the brand far ahead moves down the page"
    off = _subsidy(engine, 16, exposures=None)
    assert not any("exposure_pacing" in _rules(c) for c in off.cards), "no live state: no pacing"


def _category(engine: Engine, category_id: int, user: int | None = 3):
    request = RankRequest(surface="channel", page_size=20, now_ms=_at(engine, 20), hour=20, user_id=user,
                          channel="category", category_id=category_id)
    return engine.rank("category", request)


@pytest.mark.parametrize("level", ["top_category_id", "category_id"])
def test_a_category_page_holds_only_its_category(engine, level):
    snap = engine.snapshot
    column = snap.products.columns[level]
    values, counts = np.unique(column, return_counts=True)
    category = int(values[np.argmax(counts)])
    page = _category(engine, category)
    assert len(page.cards) == 20
    rows = snap.products.rows(np.array([c["product_id"] for c in page.cards]))
    assert (snap.products.columns[level][rows] == category).all()
    assert all("category" in c["sources"] for c in page.cards[:1])
    personal = {s for c in page.cards for s in c["sources"]} - {"category"}
    assert personal, "the shopper's personal sources add products of the category"


def test_a_category_page_is_ranked_by_the_model(engine):
    snap = engine.snapshot
    category = int(np.unique(snap.products.columns["top_category_id"])[0])
    anonymous = _category(engine, category, user=None)
    scores = [c["score"] for c in anonymous.cards]
    assert anonymous.cards and all(c["model_score"] is not None for c in anonymous.cards)
    assert scores[0] >= np.median(scores)
