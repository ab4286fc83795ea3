"""The shelf-mall simulator: complete, valid, reproducible tables with a usable oracle."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.contracts import TABLES, read_table, validate_dataset
from ranking.mall_clock import local_hour, to_epoch_ms
from ranking.settings import MallSettings, SimulatorSettings
from training.simulator import Truth, simulate


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_small_mall_writes_every_contract_table_and_they_validate(small_mall: Path) -> None:
    for name in TABLES:
        assert (small_mall / f"{name}.parquet").exists(), name
        assert read_table(small_mall, name).num_rows > 0, name
    assert validate_dataset(small_mall) == []


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(
    small_mall: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    simulate(again, SimulatorSettings(scale="small", seed=7), MallSettings(), progress=False)
    assert _digest(again) == _digest(small_mall)
    other = tmp_path / "other"
    simulate(other, SimulatorSettings(scale="small", seed=8), MallSettings(), progress=False)
    assert _digest(other)["products.parquet"] != _digest(small_mall)["products.parquet"]


def test_titles_and_queries_are_written_in_chinese_and_in_english(small_mall: Path) -> None:
    def has_cjk(s: str) -> bool:
        return any("\u4e00" <= ch <= "\u9fff" for ch in s)

    titles = read_table(small_mall, "products").column("title").to_pylist()
    queries = read_table(small_mall, "queries").column("text").to_pylist()
    for texts in (titles, queries):
        cjk = sum(has_cjk(t) for t in texts)
        assert 0.2 * len(texts) < cjk < 0.9 * len(texts)


def test_search_impressions_reference_logged_queries(small_mall: Path) -> None:
    imp = read_table(small_mall, "impressions", ["surface", "query_id"]).to_pandas()
    known = set(read_table(small_mall, "queries").column("query_id").to_pylist())
    search = imp[imp.surface == "search"]
    assert search.query_id.notna().all() and set(search.query_id.astype("int64")) <= known
    assert imp[imp.surface != "search"].query_id.isna().all()


def test_clicks_fall_with_position_in_randomised_requests(small_mall: Path) -> None:
    imp = read_table(small_mall, "impressions").to_pandas()
    clicks = read_table(small_mall, "clicks").to_pandas()
    # requests whose top slots were shuffled carry a propensity below 1 - eps + eps/R
    randomised = imp[imp.propensity < 0.5].request_id.unique()
    assert len(randomised) > 100
    shown = imp[imp.request_id.isin(randomised) & (imp.position <= 10)]
    clicked = shown.merge(clicks[["request_id", "product_id"]], how="left", indicator=True)
    ctr = clicked.assign(c=clicked._merge == "both").groupby("position").c.mean()
    assert ctr.loc[1] > 1.5 * ctr.loc[10]


def test_propensities_are_consistent_with_the_logged_randomisation(small_mall: Path) -> None:
    s = SimulatorSettings()
    imp = read_table(small_mall, "impressions", ["propensity", "position"]).to_pandas()
    eps, r = s.randomised_share, s.randomised_top
    allowed = {1.0, round((1 - eps) + eps / r, 9), round(eps / r, 9)}
    assert set(np.round(imp.propensity.unique(), 9)) <= allowed
    assert (imp[imp.position > r].propensity == 1.0).all()


def test_shoppers_want_the_time_slot_theme_in_its_slot(small_mall: Path) -> None:
    orders = read_table(small_mall, "orders", ["timestamp", "product_id"]).to_pandas()
    products = read_table(small_mall, "products", ["product_id", "category_id"]).to_pandas()
    cats = read_table(small_mall, "categories").to_pandas().set_index("category_id")
    o = orders.merge(products, on="product_id")
    o["theme"] = o.category_id.map(cats.theme)
    hours = local_hour(to_epoch_ms(o.timestamp))
    morning = (hours >= 6) & (hours < 12)
    evening = (hours >= 18) | (hours < 6)
    share = lambda mask: (o.theme[mask] == "grains_oil").mean()  # noqa: E731
    assert share(morning) > 1.3 * share(evening)


def test_oracle_probabilities_follow_the_latent_truth(small_mall: Path) -> None:
    truth = Truth.load(small_mall)
    n = 500
    rng = np.random.default_rng(0)
    users = rng.integers(0, 1000, n)
    products = rng.integers(0, 2000, n)
    p = truth.purchase_probability(users, products, np.full(n, 20), np.full(n, "homepage"))
    assert p.shape == (n,) and np.all((p >= 0) & (p <= 1))
    model = truth.model
    before = truth.purchase_probability(users, products, np.full(n, 20), np.full(n, 1))
    model.product_quality = np.minimum(model.product_quality + 0.3, 1.0)
    after = truth.purchase_probability(users, products, np.full(n, 20), np.full(n, 1))
    assert np.all(after >= before) and after.mean() > before.mean()


def test_oracle_ranks_the_query_category_first_on_search(small_mall: Path) -> None:
    truth = Truth.load(small_mall)
    queries = pd.read_parquet(small_mall / "truth" / "queries.parquet").head(50)
    products = read_table(small_mall, "products", ["product_id", "category_id"]).to_pandas()
    for q in queries.itertuples():
        same = products[products.category_id == q.category_id].product_id.to_numpy()[:20]
        other = products[products.category_id != q.category_id].product_id.to_numpy()[:20]
        ids = np.concatenate([same, other])
        p = truth.purchase_probability(
            np.zeros(len(ids), int), ids, np.full(len(ids), 10), np.full(len(ids), "search"),
            np.full(len(ids), q.query_id),
        )
        assert p[: len(same)].mean() > 3 * p[len(same):].mean()


def test_truth_is_kept_apart_from_the_observable_tables(small_mall: Path) -> None:
    observable = {p.stem for p in small_mall.glob("*.parquet")}
    assert observable == set(TABLES)
    for name in TABLES:
        cols = set(TABLES[name].schema.names)
        assert not cols & {"quality", "logistics_speed", "service_quality", "market_price"}


@pytest.mark.parametrize("scale", ["small", "default", "large"])
def test_scales_have_the_documented_shape(scale: str) -> None:
    shape = SimulatorSettings(scale=scale).shape()
    expected = {"small": (2_000, 20_000), "default": (50_000, 500_000), "large": (1_000_000, 5_000_000)}
    assert (shape.products, shape.sessions) == expected[scale]


def test_sessions_override_the_scale_s_and_keep_its_catalog() -> None:
    shape = SimulatorSettings(scale="large", sessions=500_000).shape()
    assert (shape.products, shape.stores, shape.sessions) == (1_000_000, 20_000, 500_000)
    assert SimulatorSettings(scale="large").shape().sessions == 5_000_000  # the preset untouched
    with pytest.raises(ValueError):
        SimulatorSettings(sessions=0)
