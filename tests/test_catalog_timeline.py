"""Training sees the catalog as it was at each request (training/learning/catalog_timeline.py): a
merged dataset with a price cut and a ban in the middle of its logs gives the cards before them
the old price and no ban, the cards after the new price and the ban, the price advantage of the
cut product's comparable group recomputed; a dataset without changes featurises exactly as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ranking.catalog_changes import BANS, PRODUCT_CHANGES, PRODUCT_CHANGES_HISTORY
from ranking.contracts import read_table, write_table
from ranking.event_log import EventLog
from ranking.settings import load_settings
from training.data.mall_data import load_mall
from training.learning.catalog_timeline import CatalogTimeline
from training.learning.dataset import build_ranking_frame, day_index, mall_day_zero_ms
from training.learning.snapshot_builder import build_snapshot

SETTINGS = ["training.live_features=false"]


def _epoch_ms(column: pd.Series) -> np.ndarray:
    return ((column - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy(np.int64)


def _two_shown_products(small_mall: Path) -> tuple[int, int, int]:
    """Two often-shown products of different comparable groups (the first in a group of several
    listings) and the moment in the middle of the featurised days."""
    imp = read_table(small_mall, "impressions", ["product_id", "timestamp"]).to_pandas()
    products = read_table(small_mall, "products").to_pandas().set_index("product_id")
    sizes = products.comparable_group_id.map(products.comparable_group_id.value_counts())
    shown = imp.product_id.value_counts()
    shown = shown[shown.index.isin(products.index[(sizes >= 3) & ~products.banned & (products.stock > 0)])]
    cut, other = int(shown.index[0]), None
    for pid in shown.index[1:]:
        if products.comparable_group_id[pid] != products.comparable_group_id[cut]:
            other = int(pid)
            break
    late = np.sort(_epoch_ms(imp.timestamp))
    return cut, other, int(late[int(len(late) * 0.75)])


@pytest.fixture(scope="module")
def merged(small_mall: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int, int, float]:
    """small_mall merged with a log holding a 40% price cut of one product and a ban of another
    at one moment (three quarters through the logs)."""
    from training.data.event_import import merge_events

    cut, banned, at_ms = _two_shown_products(small_mall)
    old_price = float(read_table(small_mall, "products").to_pandas().set_index("product_id").price[cut])
    folder = tmp_path_factory.mktemp("pit")
    log = EventLog(folder / "events")
    log.append({PRODUCT_CHANGES: [{"product_id": cut, "price": round(old_price * 0.6, 2),
                                   "changed_ms": at_ms}]})
    log.append({BANS: [{"product_ids": [banned], "store_ids": [], "reason": "counterfeit", "unban": False,
                        "changed_ms": at_ms}]})
    log.close()
    merge_events(small_mall, folder / "events", folder / "merged")
    return folder / "merged", cut, banned, at_ms, old_price


def _card_times(data: Path) -> pd.Series:
    imp = read_table(data, "impressions", ["request_id", "timestamp"]).to_pandas()
    return pd.Series(_epoch_ms(imp.timestamp), index=imp.request_id.to_numpy()).groupby(level=0).first()


def test_merge_keeps_the_values_before_the_first_change(merged) -> None:
    data, cut, banned, _, old_price = merged
    originals = pd.read_parquet(data / "product_originals.parquet").set_index("product_id")
    assert originals.price[cut] == old_price and not originals.banned[banned]
    products = read_table(data, "products").to_pandas().set_index("product_id")
    assert products.price[cut] == round(old_price * 0.6, 2) and products.banned[banned]


def test_cards_see_the_price_and_the_ban_as_they_were_at_their_request(merged) -> None:
    data, cut, banned, at_ms, old_price = merged
    settings = load_settings(SETTINGS)
    mall = load_mall(data)
    frame = build_ranking_frame(mall, settings, progress=False)
    when = _card_times(data).reindex(frame.request_id).to_numpy()
    names = frame.feature_names
    log_price = frame.features[:, names.index("log_price")]
    discount = frame.features[:, names.index("discount_rate")]
    advantage = frame.features[:, names.index("price_advantage")]
    mine = frame.product_id == cut
    before, after = mine & (when < at_ms), mine & (when >= at_ms)
    assert before.sum() > 0 and after.sum() > 0
    new_price = round(old_price * 0.6, 2)
    np.testing.assert_allclose(log_price[before], np.log(old_price), rtol=1e-5)
    np.testing.assert_allclose(log_price[after], np.log(new_price), rtol=1e-5)
    list_price = float(read_table(data, "products").to_pandas().set_index("product_id").list_price[cut])
    np.testing.assert_allclose(discount[before], 1 - old_price / list_price, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(discount[after], 1 - new_price / list_price, rtol=1e-4, atol=1e-6)
    assert advantage[after].min() > advantage[before].max()  # 40% cheaper than the others now

    # the ban and the group's other listings, as of each moment, on the cut's snapshot
    zero = mall_day_zero_ms(mall, settings.mall.timezone)
    day = int(day_index(np.array([at_ms]), zero)[0])
    snapshot = build_snapshot(mall, zero + (day - day % settings.training.snapshot_every_days) * 86_400_000,
                              settings)
    timeline = CatalogTimeline.load(data).over(snapshot, settings.scores.price_advantage_clip)
    ban = timeline.values(np.array([banned, banned]), np.array([at_ms - 1, at_ms]))["banned"]
    assert ban.tolist() == [0.0, 1.0]
    group = snapshot.products.take("comparable_group_id", snapshot.products.rows(np.array([cut])))[0]
    others = snapshot.products.ids[(snapshot.products.columns["comparable_group_id"] == group)
                                   & (snapshot.products.ids != cut)]
    at = timeline.values(np.r_[others, others], np.r_[np.full(len(others), at_ms - 1),
                                                     np.full(len(others), at_ms)])
    moved = at["price_advantage"][len(others):] - at["price_advantage"][:len(others)]
    assert (moved < 0).any() and np.isnan(at["price"]).sum() == 0  # a cheaper rival: they lost advantage
    untouched = snapshot.products.ids[~np.isin(snapshot.products.columns["comparable_group_id"],
                                               [group, snapshot.products.take("comparable_group_id",
                                                snapshot.products.rows(np.array([banned])))[0]])][:50]
    assert np.isnan(timeline.values(untouched, np.full(len(untouched), at_ms))["price"]).all()


def test_a_dataset_without_changes_featurises_as_before(small_mall: Path, tmp_path: Path) -> None:
    settings = load_settings(SETTINGS)
    plain = build_ranking_frame(load_mall(small_mall), settings, progress=False, days=(7, 9))
    copy = tmp_path / "copy"
    shutil.copytree(small_mall, copy)
    empty = pa.table({f.name: pa.array([], f.type) for f in PRODUCT_CHANGES_HISTORY.schema},
                     schema=PRODUCT_CHANGES_HISTORY.schema)
    write_table(copy, PRODUCT_CHANGES_HISTORY, empty)
    assert CatalogTimeline.load(small_mall) is None and CatalogTimeline.load(copy) is None
    again = build_ranking_frame(load_mall(copy), settings, progress=False, days=(7, 9))
    assert again.feature_names == plain.feature_names
    np.testing.assert_array_equal(again.features, plain.features)
    np.testing.assert_array_equal(again.product_id, plain.product_id)


def test_merging_a_merged_dataset_again_keeps_the_first_originals(merged, tmp_path: Path) -> None:
    from training.data.event_import import merge_events

    data, cut, _, at_ms, old_price = merged
    log = EventLog(tmp_path / "events")
    log.append({PRODUCT_CHANGES: [{"product_id": cut, "price": 3.0, "changed_ms": at_ms + 60_000}]})
    log.close()
    merge_events(data, tmp_path / "events", tmp_path / "again")
    originals = pd.read_parquet(tmp_path / "again" / "product_originals.parquet").set_index("product_id")
    assert originals.price[cut] == old_price
    history = pd.read_parquet(tmp_path / "again" / "product_changes.parquet")
    assert history[history.product_id == cut].price.tolist() == [round(old_price * 0.6, 2), 3.0]
    timeline = CatalogTimeline.load(tmp_path / "again")
    snapshot = build_snapshot(load_mall(tmp_path / "again"), at_ms, load_settings(SETTINGS))
    moments = np.array([at_ms - 1, at_ms, at_ms + 60_000])
    prices = timeline.over(snapshot, 0.5).values(np.full(3, cut), moments)
    assert prices["price"].tolist() == [old_price, round(old_price * 0.6, 2), 3.0]
