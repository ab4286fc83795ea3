"""Explanations a merchant can read (issue 27): contributions against a meaningful baseline
(a missing or not-applicable feature contributes nothing, the sum stays exact), the
registry's names and units, dimensions on their 0-100 scale, rules named for what they do.
On a real engine of the small mall, and on the pure helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ranking.engine import Engine
from ranking.explanation import RULES, not_applicable, query_names_a_brand, rebase
from ranking.pipeline import RankRequest
from ranking.settings import load_settings


@pytest.fixture(scope="module")
def engine(small_models: Path) -> Engine:
    return Engine.load(small_models / "latest", load_settings(["live.backend=off"]))


def _cards(engine: Engine, pipeline: str, **request) -> list[dict]:
    base = dict(surface="homepage", page_size=20, now_ms=engine.snapshot.as_of_ms, hour=20, explain=True)
    return engine.rank(pipeline, RankRequest(**{**base, **request})).cards


def _assert_exact_sum(card: dict) -> None:
    e = card["explanation"]
    assert e["bias"] + sum(e["groups"].values()) == pytest.approx(card["model_score"], abs=1e-6)
    assert e["bias"] == pytest.approx(e["baseline"]["average_card"] + e["baseline"]["not_applicable"])


def test_a_homepage_card_gets_no_relevance_contribution_and_the_sum_stays_exact(engine):
    cards = _cards(engine, "homepage", user_id=5)
    assert len(cards) == 20
    for card in cards:
        e = card["explanation"]
        assert e["groups"]["relevance"] == 0.0
        assert all(f["group"] != "relevance" for f in e["top_features"])
        assert "brand_match" in e["baseline"]["not_applicable_features"]
        _assert_exact_sum(card)
    # the moved part is real: the raw TreeSHAP contributions of the missing relevance features
    # were not zero (that was the "+0.5 relevance" on every homepage card)
    assert any(c["explanation"]["baseline"]["not_applicable"] != 0 for c in cards)


def test_brand_match_zero_contributes_nothing_when_the_query_names_no_brand(engine):
    names = engine.snapshot.text.brand_search_names()
    query = "大米"
    assert not query_names_a_brand(query, names)
    cards = _cards(engine, "search", surface="search", query=query)
    assert cards
    for card in cards:
        e = card["explanation"]
        assert "brand_match" in e["baseline"]["not_applicable_features"]
        assert all(f["feature"] != "brand_match" for f in e["top_features"])
        _assert_exact_sum(card)
    # other relevance figures do apply on search
    assert any(e["explanation"]["groups"]["relevance"] != 0 for e in cards)


def test_brand_match_applies_when_the_query_names_a_brand(engine):
    name = next(n for _, n in sorted(engine.snapshot.text.brand_search_names().items()) if n)
    cards = _cards(engine, "search", surface="search", query=name)
    assert cards
    for card in cards:
        assert "brand_match" not in card["explanation"]["baseline"]["not_applicable_features"]
        _assert_exact_sum(card)


def test_features_dimensions_and_rules_read_as_words_with_units(engine):
    cards = _cards(engine, "homepage", user_id=5, hour=9, page_size=40)
    for card in cards:
        e = card["explanation"]
        for f in e["top_features"]:
            assert f["label"] and f["label"] != f["feature"] and f["shown"]
        for d in e["product_dimensions"] + e["store_dimensions"]:
            assert d["shown"] == "missing" if d["score"] is None else d["shown"].endswith("/100")
            assert d["score"] is None or 0 <= d["score"] <= 100
        for r in e["rules"]:
            assert r["label"] == RULES[r["rule"]][0] and r["does"]
    assert e["baseline"]["label"] == "average card"
    shown = {f["feature"]: f["shown"] for c in cards for f in c["explanation"]["top_features"]}
    if "cvr" in shown:
        assert shown["cvr"].endswith("%")


def test_value_tilt_says_it_trades_orders_for_order_value(engine):
    cards = _cards(engine, "homepage", user_id=5, page_size=40)
    tilts = [r for c in cards for r in c["explanation"]["rules"] if r["rule"] == "value_tilt"]
    assert tilts, "value_tilt moves every candidate"
    down = [r for r in tilts if r["delta"] < 0]
    # a cheaper card's move down reads as the mall's trade, not as a penalty for good value
    assert down and all(r["label"] == "order-value tilt" and "not a judgement of the price" in r["does"]
                        for r in down)


def test_not_applicable_and_rebase_keep_the_sum():
    features = np.array([[1.0, np.nan, 0.0], [2.0, 3.0, 0.0]], dtype=np.float32)
    names = ["ctr", "lexical_score", "brand_match"]
    mask = not_applicable(features, names, brand_named=False)
    assert mask.tolist() == [[False, True, True], [False, False, True]]
    assert not_applicable(features, names, brand_named=True)[:, 2].tolist() == [False, False]
    contrib = np.array([[0.1, 0.5, -0.2, -1.0], [0.3, 0.2, -0.4, -1.0]])
    zeroed, moved = rebase(contrib, mask)
    assert zeroed.tolist() == [[0.1, 0.0, 0.0], [0.3, 0.2, 0.0]]
    assert moved == pytest.approx([0.3, -0.4])
    assert (zeroed.sum(axis=1) + moved + contrib[:, -1]) == pytest.approx(contrib.sum(axis=1))


def test_query_names_a_brand_reads_the_search_form():
    names = {1: "huawei", 2: "小米", 3: ""}
    assert query_names_a_brand("HUAWEI phone", names)
    assert query_names_a_brand("小米手机", names)
    assert not query_names_a_brand("大米", names)
    assert not query_names_a_brand(None, names)


def test_the_explanation_is_typed_in_the_openapi_schema(small_models, tmp_path):
    from serving.app import create_app

    settings = load_settings([f"serving.bundle={small_models / 'latest'}", f"serving.events_dir={tmp_path}"])
    schemas = create_app(settings).openapi()["components"]["schemas"]
    explanation = schemas["Explanation"]["properties"]
    assert explanation["top_features"]["items"]["$ref"].endswith("/Contribution")
    assert explanation["rules"]["items"]["$ref"].endswith("/RuleNote")
    assert explanation["product_dimensions"]["items"]["$ref"].endswith("/Dimension")
    for name in ("Baseline", "Contribution", "Dimension", "RuleNote"):
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), f"{name}.{field} has no description"


def test_every_adjuster_and_selector_rule_has_a_name_for_people():
    import dataclasses
    import importlib
    import pkgutil

    import ranking.pipeline.adjusters as adjusters
    import ranking.pipeline.selectors as selectors

    names = set()
    for package in (adjusters, selectors):
        for module in pkgutil.iter_modules(package.__path__):
            mod = importlib.import_module(f"{package.__name__}.{module.name}")
            for obj in vars(mod).values():
                if dataclasses.is_dataclass(obj) and obj.__module__ == mod.__name__:
                    field = {f.name: f for f in dataclasses.fields(obj)}.get("name")
                    if field is not None and isinstance(field.default, str):
                        names.add(field.default)
    assert {"value_tilt", "traffic_policy", "theme_boost", "store_diversity"} <= names
    assert names <= set(RULES), f"rules without a label in ranking/explanation.py RULES: {names - set(RULES)}"
