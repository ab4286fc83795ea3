"""The simulator's trust and offer attributes (training/simulator/offers.py): who offers what,
subsidy depth, the shoppers' risk aversion, and the behaviour terms the oracle reads back."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.badges import ATTRIBUTE_BADGES
from ranking.contracts import read_table
from ranking.settings import SimulatorSettings
from training.simulator.behaviour import expensive
from training.simulator.offers import draw_offers
from training.simulator.truth import Truth


@pytest.fixture(scope="module")
def products(small_mall: Path) -> pd.DataFrame:
    p = read_table(small_mall, "products").to_pandas()
    tiers = read_table(small_mall, "brands").to_pandas().set_index("brand_id").tier
    cats = read_table(small_mall, "categories").to_pandas().set_index("category_id")
    p["tier"] = p.brand_id.map(tiers)
    p["top"] = cats.loc[p.category_id, "parent_id"].map(cats.name_en).to_numpy()
    p["consumable"] = cats.loc[p.category_id, "consumable"].to_numpy()
    return p


def test_every_product_has_the_attributes_at_plausible_rates(products: pd.DataFrame) -> None:
    for name in ATTRIBUTE_BADGES:
        share = products[name].mean()
        assert 0.02 < share < 0.9, (name, share)
        assert not products.loc[products.banned, name].any(), name  # a banned listing promises nothing
    by_tier = products.groupby("tier")
    guaranteed, free = by_tier.authentic_guarantee.mean(), by_tier.free_shipping.mean()
    assert guaranteed["big_brand"] > 3 * guaranteed["white_label"]
    assert free["big_brand"] > free["white_label"]
    prone = products.top.isin(["apparel", "digital"])
    assert products[prone].freight_insurance.mean() > products[~prone].freight_insurance.mean() + 0.1
    assert products[prone].seven_day_returns.mean() > products[~prone].seven_day_returns.mean() + 0.1
    dear = products.price > products.price.quantile(0.8)
    cheap = products.price < products.price.quantile(0.2)
    assert products[dear].pay_later.mean() > products[cheap].pay_later.mean() + 0.2
    assert products[products.consumable].multi_item_discount.mean() > \
        products[~products.consumable].multi_item_discount.mean() + 0.2


def test_subsidy_depth_is_the_platforms_share_of_the_list_price_on_subsidy_products(
        products: pd.DataFrame) -> None:
    assert (products.loc[~products.subsidy, "subsidy_depth"] == 0).all()
    depth = products.loc[products.subsidy, "subsidy_depth"]
    assert len(depth) and depth.between(0.01, 0.3).all()
    expected = products.price * (1 / 0.85 - 1) / products.list_price
    assert np.allclose(depth, expected[products.subsidy], atol=1e-9)


def test_offers_draw_on_their_own_stream_and_are_deterministic() -> None:
    from ranking.settings import SCALES
    from training.simulator.world import build_world

    world = build_world(SCALES["small"], 7, date(2026, 8, 1), 0.08, 8 * 3_600_000)
    rates = SimulatorSettings().offer_rates
    a, b = draw_offers(world, rates, 7), draw_offers(world, rates, 7)
    assert all(np.array_equal(a.flags[n], b.flags[n]) for n in ATTRIBUTE_BADGES)
    assert np.array_equal(a.user_risk_aversion, b.user_risk_aversion)
    assert a.user_risk_aversion.shape == (len(world.user_region),)
    fewer = draw_offers(world, {**rates, "free_shipping": 0.05}, 7)
    assert fewer.flags["free_shipping"].mean() < a.flags["free_shipping"].mean() - 0.2
    with pytest.raises(ValueError, match="offer_rates"):
        SimulatorSettings(offer_rates={"free_shipping": 0.5})


def test_the_oracle_reads_the_attributes_and_risk_aversion_back(small_mall: Path) -> None:
    truth = Truth.load(small_mall)
    model = truth.model
    assert truth.params["offer_effect"] == 1.0 and model.offer_effect == 1.0
    risk = model.user_risk_aversion
    assert risk.min() >= 0 and risk.max() <= 1 and 0.3 < risk.mean() < 0.7
    prods = read_table(small_mall, "products", ["product_id", "freight_insurance", "free_shipping"]
                       ).to_pandas()
    insured = int(prods.product_id[prods.freight_insurance & ~prods.free_shipping].iloc[0])
    averse, taking = int(np.argmax(risk)), int(np.argmin(risk))
    users, items = np.array([averse, taking]), np.array([insured, insured])

    def p(effect: float) -> np.ndarray:
        model.offer_effect = effect
        return truth.purchase_probability(users, items, np.array([12, 12]), np.array([1, 1]))

    on, off = p(1.0), p(0.0)
    model.offer_effect = 1.0
    gain = on / off
    assert gain[0] > gain[1] > 1.0  # freight insurance matters more to the risk-averse shopper
    assert np.array_equal(expensive(np.array([50.0, 100.0, 1000.0, 5000.0])), [0.0, 0.0, 1.0, 1.0])


def test_offer_truth_values_each_attribute_on_the_cards_that_carry_it(small_mall: Path) -> None:
    from bench.offer_truth import offer_value

    value = offer_value(str(small_mall), max_cards=60_000)
    assert value["mean_p_order_with"] > value["mean_p_order_without"] > 0
    each = value["by_attribute"]
    assert each["freight_insurance"]["lift_risk_averse"] > each["freight_insurance"]["lift_risk_taking"] > 0
    assert each["seven_day_returns"]["lift_risk_averse"] > each["seven_day_returns"]["lift_risk_taking"] > 0
    assert each["free_shipping"]["lift_all"] > 0 and each["pay_later"]["lift_all"] > 0
    assert each["multi_item_discount"]["lift_all"] == 0  # it raises the quantity, not P(order)
