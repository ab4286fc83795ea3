"""Platform scores: the hand-worked example, monotonicity, shrinkage, no peeking, truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from ranking.contracts.frames import load_frames
from ranking.scores import compute_scores_from_tables, end_of_data_ms
from ranking.scores.price_advantage import median_of_others
from ranking.scores.shrinkage import percentile_within, shrunk_rate
from ranking.settings import ScoreSettings

DAY = 86_400_000


def test_the_hand_worked_example_of_docs_scores_md():
    # docs/scores.md, "A worked example": category prior 2%, strength 20
    assert shrunk_rate(0, 3, 0.02, 20) == pytest.approx(0.4 / 23)  # 3 orders, no return: 0.0174
    assert shrunk_rate(3, 3, 0.02, 20) == pytest.approx(3.4 / 23)  # 3 orders, 3 returns: 0.1478
    assert shrunk_rate(30, 1000, 0.02, 20) == pytest.approx(30.4 / 1020)  # 1000 orders: 0.0298
    # percentiles within a category of four stores, lower rate is better
    pct = percentile_within(np.array([0.0174, 0.1478, 0.0298, 0.0298]), np.zeros(4), False)
    assert list(pct) == [87.5, 12.5, 50.0, 50.0]
    # price advantage: listings at 90, 100, 120 of one comparable group
    others = median_of_others(np.zeros(3, int), np.array([90.0, 100.0, 120.0]), np.ones(3, bool))
    assert list(others) == [110.0, 105.0, 95.0]
    assert (others[0] - 90) / others[0] == pytest.approx(0.1818, abs=1e-4)


def _pandas_percentile(values: np.ndarray, category: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """percentile_within as pandas' grouped average rank and size gave it (the reference)."""
    v = np.asarray(values, dtype=np.float64)
    frame = pd.DataFrame({"v": v if higher_is_better else -v, "c": category})
    rank = frame.groupby("c").v.rank(method="average").to_numpy()
    return 100.0 * (rank - 0.5) / frame.groupby("c").v.transform("size").to_numpy()


def test_percentile_within_is_pandas_grouped_average_rank_bit_for_bit():
    rng = np.random.default_rng(11)
    for trial in range(300):
        n = int(rng.integers(0, 120))
        if trial % 2:  # ties, signed zeros, infinities
            values = rng.choice([0.0, -0.0, 1.0, 2.5, np.inf, -np.inf, 1e-300], n)
        else:
            values = np.round(rng.normal(size=n), int(rng.integers(0, 3)))
        values[rng.random(n) < 0.15] = np.nan  # NaN ranks NaN and still counts in its category
        category = rng.integers(-1, int(rng.integers(1, 9)), n).astype([np.int64, np.int32][trial % 2])
        for higher in (True, False):
            got = percentile_within(values, category, higher)
            want = _pandas_percentile(values, category, higher)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    # float categories take pandas' path: NaN categories rank NaN
    got = percentile_within(np.array([1.0, 2.0, 3.0]), np.array([0.0, np.nan, 0.0]))
    np.testing.assert_array_equal(got, [25.0, np.nan, 75.0])


@pytest.fixture(scope="module")
def tables(small_mall: Path) -> dict[str, pd.DataFrame]:
    return load_frames(small_mall)


@pytest.fixture(scope="module")
def scores(tables):
    return compute_scores_from_tables(tables, end_of_data_ms(tables), ScoreSettings())


def test_every_store_and_product_gets_a_score_never_nan(scores, tables):
    assert len(scores.stores) == len(tables["stores"]) and len(scores.products) == len(tables["products"])
    for col in ("store_experience_score", "store_product_quality", "store_logistics", "store_service",
                "store_stability", "returning_customer_index"):
        v = scores.stores[col]
        assert v.notna().all() and v.between(0, 100).all(), col
    for col in ("product_score", "product_information", "product_popularity", "product_quality",
                "product_service", "product_brand", "product_price", "ctr", "cvr", "rating",
                "sales_velocity", "price_advantage"):
        assert scores.products[col].notna().all(), col
    assert scores.products.price_advantage.abs().max() <= ScoreSettings().price_advantage_clip
    assert set(scores.products.product_grade) <= {"A", "B", "C", "D"}
    assert scores.products.banned.sum() == tables["products"].banned.sum()


def test_no_future_event_changes_a_past_score(tables):
    as_of = end_of_data_ms(tables) - 10 * DAY
    before = compute_scores_from_tables(tables, as_of, ScoreSettings())
    # scramble everything at or after the as-of moment
    future = {}
    for name, t in tables.items():
        t = t.copy()
        for col in [c for c in t.columns if c == "timestamp" or c.endswith("_at")]:
            late = t[col].to_numpy() >= as_of
            if name == "orders" and col == "timestamp":
                t.loc[late, "cancelled"] = ~t.loc[late, "cancelled"]
            if name == "reviews":
                t.loc[late, "rating"] = 1
            if name == "shipments" and col == "delivered_at":
                t.loc[late, col] = as_of + 99 * DAY
        future[name] = t
    extra = tables["returns"].iloc[:50].copy()
    extra["timestamp"] = as_of + DAY
    future["returns"] = pd.concat([future["returns"], extra], ignore_index=True)
    after = compute_scores_from_tables(future, as_of, ScoreSettings())
    pd.testing.assert_frame_equal(before.stores, after.stores)
    pd.testing.assert_frame_equal(before.products, after.products)


def _with_late_deliveries(tables, store_id: int, n: int, as_of: int):
    t = {k: v for k, v in tables.items()}
    orders = t["orders"][t["orders"].store_id == store_id]
    orders = orders[(~orders.cancelled) & (orders.timestamp < as_of - 10 * DAY)].iloc[:n]
    ship = t["shipments"].copy()
    late = ship.order_id.isin(orders.order_id)
    placed = ship.order_id.map(t["orders"].set_index("order_id").timestamp)
    promised = ship.loc[late, "promised_days"].astype("int64")
    ship.loc[late, "delivered_at"] = placed[late] + (promised + 3) * DAY
    t["shipments"] = ship
    return t


@settings(max_examples=8, deadline=None)
@given(store=st.integers(0, 59), n=st.integers(1, 15))
def test_more_late_deliveries_never_raise_logistics(tables, store, n):
    as_of = end_of_data_ms(tables)
    base = compute_scores_from_tables(tables, as_of, ScoreSettings())
    worse = compute_scores_from_tables(_with_late_deliveries(tables, store, n, as_of), as_of,
                                       ScoreSettings())
    assert worse.stores.store_logistics[store] <= base.stores.store_logistics[store] + 1e-9
    assert worse.stores.on_time_delivery_rate[store] <= base.stores.on_time_delivery_rate[store] + 1e-12


@settings(max_examples=8, deadline=None)
@given(store=st.integers(0, 59), n=st.integers(1, 20))
def test_more_quality_returns_never_raise_quality(tables, store, n):
    as_of = end_of_data_ms(tables)
    base = compute_scores_from_tables(tables, as_of, ScoreSettings())
    orders = tables["orders"][(tables["orders"].store_id == store) & ~tables["orders"].cancelled]
    orders = orders[orders.timestamp < as_of - DAY].iloc[:n]
    extra = pd.DataFrame({"order_id": orders.order_id, "timestamp": orders.timestamp + DAY // 2,
                          "product_id": orders.product_id, "store_id": orders.store_id,
                          "reason": "quality"})
    t = {**tables, "returns": pd.concat([tables["returns"], extra], ignore_index=True)}
    worse = compute_scores_from_tables(t, as_of, ScoreSettings())
    assert worse.stores.store_product_quality[store] <= base.stores.store_product_quality[store] + 1e-9
    # one product's returns (others untouched) never raise that product's quality
    if len(extra):
        one = extra[extra.product_id == extra.product_id.iloc[0]]
        t = {**tables, "returns": pd.concat([tables["returns"], one], ignore_index=True)}
        worse = compute_scores_from_tables(t, as_of, ScoreSettings())
        p = int(one.product_id.iloc[0])
        assert worse.products.product_quality[p] <= base.products.product_quality[p] + 1e-9
        assert worse.products.quality_return_rate[p] > base.products.quality_return_rate[p]


def test_shrinkage_pulls_small_stores_toward_the_prior():
    prior = 0.05
    small_perfect = shrunk_rate(0, 3, prior, 20)
    small_hopeless = shrunk_rate(3, 3, prior, 20)
    big_perfect = shrunk_rate(0, 3000, prior, 20)
    assert 0 < small_perfect < prior < small_hopeless < 1
    assert abs(small_perfect - prior) < abs(big_perfect - prior)
    assert small_hopeless < 0.2  # three returns in three orders is not 100%


def test_each_dimension_follows_the_latent_truth_it_measures(scores, small_mall):
    truth_s = pd.read_parquet(small_mall / "truth" / "stores.parquet").set_index("store_id")
    truth_p = pd.read_parquet(small_mall / "truth" / "products.parquet").set_index("product_id")
    s = scores.stores.join(truth_s)
    p = scores.products.join(truth_p)
    floors = {  # small mall: 60 stores and 30 days; docs/scores.md has the default-scale values
        ("store_logistics", "logistics_speed"): 0.4,
        ("store_service", "service_quality"): 0.4,
        ("store_stability", "stability"): 0.2,
    }
    for (dim, latent), floor in floors.items():
        rho = spearmanr(s[dim], s[latent]).statistic
        assert rho > floor, f"{dim} vs {latent}: {rho:.3f}"
    assert spearmanr(p.product_information, p.info_completeness).statistic > 0.6
    assert spearmanr(p.product_quality, p.quality).statistic > 0.1


def test_late_delivery_goes_with_worse_reviews_on_real_olist_orders(shared_datasets):
    from training.real_data.olist import olist_lateness_vs_reviews

    result = olist_lateness_vs_reviews(shared_datasets / "olist" / "olist_classified_public_dataset.csv")
    assert result["orders"] > 3000
    assert result["spearman_days_late_vs_review"] < -0.2  # measured: -0.353
    assert result["spearman_on_time_vs_review"] > 0.2  # measured: +0.348
    assert result["mean_review_late"] < result["mean_review_on_time"] - 1  # 1.90 vs 3.77


def test_the_window_summary_counts_the_events_scores_rest_on_and_warns_when_empty(scores, tables):
    from ranking.scores.explain import window_summary

    line, warning = window_summary(scores, ScoreSettings().window_days)
    assert line.startswith("window ") and "UTC: " in line
    assert f"{int(scores.products.impressions_n.sum()):,} impressions" in line
    assert f"{int(scores.stores.orders_n.sum()):,} orders" in line
    assert warning is None  # the test mall has orders in its window
    first_event_ms = int(tables["impressions"].timestamp.min())  # epoch ms: nothing happened before it
    early = compute_scores_from_tables(tables, first_event_ms, ScoreSettings())
    _, warning = window_summary(early, ScoreSettings().window_days)
    assert warning is not None and "prior" in warning
