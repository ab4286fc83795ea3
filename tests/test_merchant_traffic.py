"""The merchant traffic report's numbers, on a hand-made exposure log and score tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.features.snapshot import EntityTable, FeatureSnapshot
from ranking.merchant_traffic import (
    TrafficTables,
    format_report,
    read_exposures,
    store_traffic,
    tables_from_snapshot,
)
from ranking.settings import RulesSettings, ScoreSettings

DAY = 86_400_000
T = 1_780_000_000_000  # the end of the windows


def hand_tables() -> TrafficTables:
    """Stores 1-3 in category 10, store 4 in 20; store 1 has an A, a (demoted) C and a subsidy D."""
    products = pd.DataFrame({
        "store_id": [1, 1, 1, 2, 3, 4],
        "product_score": [85.0, 50.0, 30.0, 65.0, 45.0, 90.0],
        "subsidy": [False, False, True, False, False, False],
        "demoted": [False, True, False, False, False, False],
    }, index=pd.Index([11, 12, 13, 21, 31, 41], name="product_id"))
    stores = pd.DataFrame({
        "category_id": [10, 10, 10, 20],
        "store_experience_score": [80.0, 50.0, 20.0, 60.0],
        "store_product_quality": [45.0, 50.0, 55.0, 50.0],
        "store_logistics": [30.0, 60.0, 50.0, 50.0],
        "store_service": [70.0, 40.0, 50.0, 50.0],
        "demoted": [False, False, False, False],
    }, index=pd.Index([1, 2, 3, 4], name="store_id"))
    return TrafficTables(stores, products)


def hand_log() -> pd.DataFrame:
    rows = ([(11, T - 1000)] * 3 + [(13, T - 2000)] + [(21, T - 3000)] * 2 + [(31, T - 4000)]
            + [(41, T - 5000)] * 2 + [(999, T - 6000)]  # the last day: 10 cards, one unknown
            + [(12, T - 3 * DAY)] * 2 + [(41, T - 5 * DAY)] * 8  # the rest of the week: 10 more
            + [(11, T - 8 * DAY)] * 100  # older than a week
            + [(11, T)] * 50)  # at the end of the window: not in it
    return pd.DataFrame(rows, columns=["product_id", "timestamp"])


def test_exposure_shares_against_the_categorys_average_store_per_window():
    report = store_traffic(hand_tables(), hand_log(), 1, RulesSettings(), ScoreSettings(), as_of_ms=T)
    day, week = report["windows"]["day"], report["windows"]["week"]
    counts = (day["cards_shown"], day["store_cards"], day["category_cards"], day["category_stores"])
    assert counts == (10, 4, 7, 3)
    assert day["exposure_share"] == pytest.approx(0.4) and day["unknown_product_cards"] == 1
    assert day["category_average_share"] == pytest.approx(7 / 3 / 10)
    assert day["vs_category_average"] == pytest.approx(0.4 / (7 / 30))
    assert (week["cards_shown"], week["store_cards"], week["category_cards"]) == (20, 6, 9)
    assert week["exposure_share"] == pytest.approx(0.3)
    assert week["category_average_share"] == pytest.approx(0.15)
    assert week["vs_category_average"] == pytest.approx(2.0)
    assert report["category_id"] == 10 and report["store_experience_score"] == 80.0


def test_the_policy_rules_on_the_stores_cards_are_counted_per_window():
    report = store_traffic(hand_tables(), hand_log(), 1, RulesSettings(), ScoreSettings(), as_of_ms=T)
    assert report["windows"]["day"]["policy_rules"] == {
        "demotion": 0, "store_boost": 4, "store_penalty": 0, "fold_floor_grade_d": 1,
        "no_campaign_boost": 1, "no_subsidy_slot": 1}
    assert report["windows"]["week"]["policy_rules"] == {
        "demotion": 2, "store_boost": 6, "store_penalty": 0, "fold_floor_grade_d": 1,
        "no_campaign_boost": 3, "no_subsidy_slot": 1}
    penalised = store_traffic(hand_tables(), hand_log(), 3, RulesSettings(), ScoreSettings(), as_of_ms=T)
    assert penalised["windows"]["day"]["policy_rules"]["store_penalty"] == 1
    off = store_traffic(hand_tables(), hand_log(), 1, RulesSettings(traffic_policy=False), ScoreSettings(),
                        as_of_ms=T)
    assert off["windows"]["week"]["policy_rules"] == {"demotion": 2}


def test_grade_mix_and_what_would_raise_it_furthest_below_the_category_median_first():
    report = store_traffic(hand_tables(), hand_log(), 1, RulesSettings(), ScoreSettings(), as_of_ms=T)
    assert report["grade_mix"] == {"A": 1, "B": 0, "C": 1, "D": 1, "unknown": 0}
    raise_it = report["raise_it"]
    assert [d["dimension"] for d in raise_it] == ["store_logistics", "store_product_quality"]
    assert raise_it[0]["gap"] == pytest.approx(-20.0) and raise_it[0]["category_median"] == 50.0
    assert "ship within 48 hours" in raise_it[0]["how"]
    text = format_report(report)
    assert "4 of 10 cards shown = 40.00%" in text and "store_logistics 30.0 vs median 50.0" in text


def test_the_windows_end_after_the_last_exposure_by_default_and_an_unknown_store_is_named():
    report = store_traffic(hand_tables(), hand_log(), 1, RulesSettings(), ScoreSettings())
    assert report["as_of_ms"] == T + 1 and report["windows"]["day"]["store_cards"] == 54
    with pytest.raises(KeyError, match="store 99 is not in the scores"):
        store_traffic(hand_tables(), hand_log(), 99, RulesSettings(), ScoreSettings())
    empty = store_traffic(hand_tables(), hand_log().iloc[:0], 2, RulesSettings(), ScoreSettings())
    assert empty["windows"]["week"]["exposure_share"] == 0 and empty["windows"]["week"]["cards_shown"] == 0


def test_exposures_are_read_back_from_the_services_log_lines(tmp_path: Path):
    folder = tmp_path / "exposures"
    folder.mkdir()
    lines = []
    for request_id, (ts, ids) in enumerate([(T - 10, [11, 13]), (T - 2 * DAY, [41])]):
        lines.append(json.dumps({
            "request_id": request_id, "timestamp": ts, "user_id": 5, "surface": "homepage",
            "experiment": "none", "variant": "default", "bundle_version": "b",
            "cards": {"product_id": ids, "position": list(range(1, len(ids) + 1)),
                      "propensity": [1.0] * len(ids)}}))
    (folder / "w1.jsonl").write_text("\n".join(lines) + "\n")
    frame = read_exposures(str(tmp_path))
    assert frame.product_id.tolist() == [11, 13, 41]
    assert frame.timestamp.tolist() == [T - 10, T - 10, T - 2 * DAY]


def test_tables_from_a_snapshot_give_each_store_its_main_top_level_category():
    products = EntityTable(np.array([1, 2, 3, 4, 5], dtype=np.int64), {
        "store_id": np.array([7, 7, 7, 8, 8], dtype=np.float32),
        "top_category_id": np.array([3, 2, 2, 5, 4], dtype=np.float32),  # store 8: a tie -> 4
        "product_score": np.array([90, 10, 50, np.nan, 70], dtype=np.float32),
        "subsidy": np.array([1, 0, 0, 0, 0], dtype=np.float32),
        "demoted": np.zeros(5, dtype=np.float32),
    })
    stores = EntityTable(np.array([7, 8, 9], dtype=np.int64), {
        "store_experience_score": np.array([70, 40, 55], dtype=np.float32),
        "demoted": np.array([0, 1, 0], dtype=np.float32)})
    snap = FeatureSnapshot(as_of_ms=0, products=products, stores=stores,
                           users=EntityTable(np.zeros(0, np.int64), {}),
                           leaf_ids=np.zeros(0, np.int64), leaf_theme_slot=np.zeros(0, np.int8),
                           user_leaf_slot=None, user_leaf=None, bought=None, bought_leaf=None,
                           store_visits=None, text=None)
    tables = tables_from_snapshot(snap)
    assert tables.stores.category_id.tolist() == [2, 4, -1]  # store 9 has no product
    assert tables.stores.demoted.tolist() == [False, True, False]
    assert tables.products.subsidy.tolist() == [True, False, False, False, False]
    report = store_traffic(tables, pd.DataFrame({"product_id": [4], "timestamp": [0]}), 8, RulesSettings(),
                           ScoreSettings())
    assert report["grade_mix"] == {"A": 0, "B": 1, "C": 0, "D": 0, "unknown": 1}


def test_a_stores_main_category_is_the_one_most_of_its_products_are_in_smallest_on_a_tie():
    from ranking.merchant_traffic import main_category

    stores = np.array([40, 40, 40, 7, 7, 93])
    tops = np.array([3, 3, 1, 5, 2, 9])
    assert main_category(stores, tops).to_dict() == {7: 2, 40: 3, 93: 9}
