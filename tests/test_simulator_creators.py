"""Creators in the simulator: what they pick, publish and sell follows their latent traits,
and their pull reaches the oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ranking.contracts import read_table
from ranking.settings import MallSettings, SimulatorSettings
from training.simulator import simulate
from training.simulator.truth import Truth


def test_creators_tables_are_written_with_their_truth(small_mall: Path) -> None:
    creators = read_table(small_mall, "creators").to_pandas()
    truth = pd.read_parquet(small_mall / "truth" / "creators.parquet")
    assert len(creators) == len(truth) == round(2_000 * SimulatorSettings().creators_per_thousand_products
                                                / 1000)
    traits = truth[["content_quality", "product_judgement", "service_conduct"]].to_numpy()
    assert np.allclose(truth.reputation.to_numpy(), traits.mean(axis=1))


def test_content_engages_with_the_creators_content_quality(small_mall: Path) -> None:
    content = pd.read_parquet(small_mall / "creator_content.parquet")
    truth = pd.read_parquet(small_mall / "truth" / "creators.parquet").set_index("creator_id")
    per = content.groupby("creator_id")[["views", "engagements", "reports"]].sum()
    per = per.join(truth)
    assert spearmanr(per.engagements / per.views, per.content_quality).statistic > 0.8
    assert spearmanr(per.reports / per.views, per.content_quality).statistic < -0.5


def test_creators_with_judgement_pick_better_products(small_mall: Path) -> None:
    content = pd.read_parquet(small_mall / "creator_content.parquet")
    quality = pd.read_parquet(small_mall / "truth" / "products.parquet").set_index("product_id").quality
    truth = pd.read_parquet(small_mall / "truth" / "creators.parquet").set_index("creator_id")
    picked = quality.reindex(content.product_id).groupby(content.creator_id.to_numpy()).mean()
    assert spearmanr(picked, truth.product_judgement.reindex(picked.index)).statistic > 0.3


def test_only_featured_products_orders_are_attributed_to_their_creators(small_mall: Path) -> None:
    credited = pd.read_parquet(small_mall / "creator_orders.parquet")
    content = pd.read_parquet(small_mall / "creator_content.parquet")
    orders = pd.read_parquet(small_mall / "orders.parquet").set_index("order_id")
    featured = set(zip(content.creator_id, content.product_id, strict=True))
    assert len(credited) > 0
    assert all(p in featured for p in zip(credited.creator_id, credited.product_id, strict=True))
    assert (orders.product_id.reindex(credited.order_id).to_numpy() == credited.product_id.to_numpy()).all()


def test_orders_of_overselling_creators_bring_more_tickets(small_mall: Path) -> None:
    credited = pd.read_parquet(small_mall / "creator_orders.parquet")
    tickets = set(pd.read_parquet(small_mall / "service_tickets.parquet").order_id)
    conduct = pd.read_parquet(small_mall / "truth" / "creators.parquet").set_index(
        "creator_id").service_conduct
    low = conduct.reindex(credited.creator_id).to_numpy() < conduct.median()
    ticketed = credited.order_id.isin(tickets).to_numpy()
    # seed 7: 0.287 against 0.230 (1.25x) since the offer terms changed who orders what (1.3x before)
    assert ticketed[low].mean() > 1.15 * ticketed[~low].mean()


def test_the_oracle_includes_the_creator_pull(small_mall: Path) -> None:
    truth = Truth.load(small_mall)
    pull = pd.read_parquet(small_mall / "truth" / "products.parquet").creator_pull.to_numpy()
    pulled = np.flatnonzero(pull > 0.2)[:50]
    assert len(pulled) > 5
    users = np.zeros(len(pulled), np.int64)
    with_pull = truth.purchase_probability(users, pulled, np.full(len(pulled), 20), np.full(len(pulled), 1))
    truth.model.product_creator_pull = np.zeros_like(pull)
    without = truth.purchase_probability(users, pulled, np.full(len(pulled), 20), np.full(len(pulled), 1))
    assert (with_pull > without).all()


def test_a_mall_without_creators_writes_no_creator_tables(tmp_path: Path) -> None:
    simulate(tmp_path, SimulatorSettings(scale="small", seed=7, creators_per_thousand_products=0),
             MallSettings(), progress=False)
    assert not any((tmp_path / f"{n}.parquet").exists() for n in ("creators", "creator_content",
                                                                  "creator_orders"))
    assert read_table(tmp_path, "creators").num_rows == 0  # an optional table reads empty
    assert (pd.read_parquet(tmp_path / "truth" / "products.parquet").creator_pull == 0).all()
