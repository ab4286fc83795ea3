"""Training's scores, leaf price medians and shopper profiles are point in time: what a training
row reads does not change when events or catalog changes after its request are appended.

Events: every snapshot cut counts only the events before it (ranking/scores/window.py), so the
mall cut off after day 14 gives the rows of days 7-13 the same features as the whole mall.
Catalog: a merged dataset's products table holds the prices and bans of the end of its log; each
cut's snapshot now reads them as of the cut (training.point_in_time_scores,
training/learning/catalog_timeline.py ``products_as_of``), so the rows before a late price change
and ban read the same product scores, price advantages, category medians and profiles as the
dataset without them; with the setting off they do not (the leak this closes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.catalog_changes import BANS, PRODUCT_CHANGES
from ranking.contracts import read_table
from ranking.event_log import EventLog
from ranking.settings import load_settings
from training.data.mall_data import MallTables, load_mall
from training.learning.dataset import DAY_MS, RankingFrame, build_ranking_frame, mall_day_zero_ms

FAST = ["training.live_features=false"]
READ = ("product_score", "product_popularity", "price_advantage", "price_competitiveness",
        "price_vs_category", "store_experience_score", "store_logistics", "store_service",
        "returning_customer_index", "category_affinity", "price_band_fit", "user_discount_taste",
        "bought_before", "store_affinity")


def _cut_off(mall: MallTables, end_ms: int) -> MallTables:
    """The mall as it stood at ``end_ms``: no event at or after it (a shipment shipped or delivered
    after it is not yet shipped or delivered); the catalog tables unchanged."""
    tables = dict(mall.tables)
    for name, col in (("impressions", "timestamp"), ("clicks", "timestamp"), ("carts", "timestamp"),
                      ("orders", "timestamp"), ("returns", "timestamp"), ("reviews", "timestamp"),
                      ("service_tickets", "opened_at"), ("reference_prices", "observed_at")):
        tables[name] = tables[name][tables[name][col].to_numpy() < end_ms].reset_index(drop=True)
    ship = tables["shipments"].copy()
    for col in ("shipped_at", "delivered_at"):
        ship[col] = np.where(ship[col].to_numpy() >= end_ms, -1, ship[col].to_numpy())
    tables["shipments"] = ship
    return MallTables(mall.data_dir, tables)


def _rows(frame: RankingFrame, keep: np.ndarray) -> pd.DataFrame:
    """The frame's rows under ``keep`` as a table keyed by (request, product)."""
    out = pd.DataFrame(frame.features[keep], columns=frame.feature_names)
    out.index = pd.MultiIndex.from_arrays([frame.request_id[keep], frame.product_id[keep]])
    return out.sort_index()


@pytest.mark.parametrize("cadence", [7, 1])
def test_events_after_a_rows_day_do_not_change_its_features(small_mall: Path, cadence: int) -> None:
    settings = load_settings([*FAST, f"training.score_cadence_days={cadence}"])
    mall = load_mall(small_mall)
    end = mall_day_zero_ms(mall, settings.mall.timezone) + 14 * DAY_MS
    whole = build_ranking_frame(mall, settings, progress=False, days=(7, 14))
    early = build_ranking_frame(_cut_off(mall, end), settings, progress=False, days=(7, 14))
    a, b = _rows(whole, np.ones(len(whole), bool)), _rows(early, np.ones(len(early), bool))
    assert len(a) == len(b) > 1000 and a.index.equals(b.index)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def _epoch_ms(column: pd.Series) -> np.ndarray:
    return ((column - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(np.int64)


@pytest.fixture(scope="module")
def late_changes(small_mall: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list[int]]:
    """small_mall merged with a log of, at 85% through its logs, a 60% price cut of the five most
    shown listings of comparable groups of 3+, a tripled price of the next five, and a ban of
    the next two: (merged folder, the moment, the changed products)."""
    from training.data.event_import import merge_events

    imp = read_table(small_mall, "impressions", ["product_id", "timestamp"]).to_pandas()
    products = read_table(small_mall, "products").to_pandas().set_index("product_id")
    sizes = products.comparable_group_id.map(products.comparable_group_id.value_counts())
    shown = imp.product_id.value_counts()
    shown = [int(p) for p in shown.index if sizes[p] >= 3 and not products.banned[p]][:12]
    at_ms = int(np.sort(_epoch_ms(imp.timestamp))[int(len(imp) * 0.85)])
    folder = tmp_path_factory.mktemp("pit_scores")
    log = EventLog(folder / "events")
    factors = [0.4] * 5 + [3.0] * 5
    log.append({PRODUCT_CHANGES: [{"product_id": pid, "price": round(float(products.price[pid]) * f, 2),
                                   "changed_ms": at_ms} for pid, f in zip(shown, factors, strict=False)]})
    log.append({BANS: [{"product_ids": shown[10:], "store_ids": [], "reason": "counterfeit", "unban": False,
                        "changed_ms": at_ms}]})
    log.close()
    merge_events(small_mall, folder / "events", folder / "merged")
    return folder / "merged", at_ms, shown


def _before(data: Path, settings_list: list[str], at_ms: int) -> pd.DataFrame:
    settings = load_settings(settings_list)
    frame = build_ranking_frame(load_mall(data), settings, progress=False)
    imp = read_table(data, "impressions", ["request_id", "timestamp"]).to_pandas()
    when = pd.Series(_epoch_ms(imp.timestamp), index=imp.request_id.to_numpy()).groupby(level=0).first()
    return _rows(frame, when.reindex(frame.request_id).to_numpy() < at_ms)


@pytest.mark.parametrize("cadence", [7, 1])
def test_rows_before_a_late_catalog_change_read_the_catalog_of_their_time(
        small_mall: Path, late_changes, cadence: int) -> None:
    merged, at_ms, changed = late_changes
    settings = [*FAST, f"training.score_cadence_days={cadence}"]
    base = _before(small_mall, settings, at_ms)
    seen = _before(merged, settings, at_ms)
    assert len(base) > 100_000 and base.index.equals(seen.index)
    assert base.index.get_level_values(1).isin(changed).sum() > 1000
    np.testing.assert_allclose(seen[list(READ)].to_numpy(), base[list(READ)].to_numpy(), rtol=1e-5,
                               atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(seen.to_numpy(), base.to_numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)


def test_the_final_catalog_behind_the_setting_leaks_into_earlier_rows(small_mall: Path, late_changes) -> None:
    merged, at_ms, changed = late_changes
    settings = [*FAST, "training.point_in_time_scores=false"]
    base = _before(small_mall, settings, at_ms)
    seen = _before(merged, settings, at_ms)
    mine = base.index.get_level_values(1).isin(changed[:10])
    moved = ~np.isclose(seen.product_score.to_numpy()[mine], base.product_score.to_numpy()[mine])
    assert moved.mean() > 0.5  # the repriced products' scores read their later price
    assert not np.allclose(seen.price_band_fit.to_numpy(), base.price_band_fit.to_numpy(), equal_nan=True)
