"""The creator reputation score (带货口碑分): worked example, direction, shrinkage, bounds, a mall
without creators, and agreement with the simulator's latent creator traits."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.contracts.frames import load_frames
from ranking.scores import compute_scores, compute_scores_from_tables, end_of_data_ms
from ranking.scores.creator_reputation import CREATOR_TABLES, creator_reputation
from ranking.scores.shrinkage import shrunk_rate
from ranking.settings import ScoreSettings

DAY = 86_400_000
AS_OF = 100 * DAY


def _mall(n_creators: int = 4, orders_each: int = 40) -> dict[str, pd.DataFrame]:
    """Creators with equal content and ``orders_each`` attributed orders, nothing going wrong."""
    ids = np.arange(n_creators)
    n = n_creators * orders_each
    order_ids = np.arange(n)
    return {
        "creators": pd.DataFrame({"creator_id": ids, "name": [f"c{i}" for i in ids], "joined_at": 0}),
        "creator_content": pd.DataFrame({"content_id": ids, "creator_id": ids, "product_id": ids,
                                         "published_at": AS_OF - 5 * DAY, "views": 1000,
                                         "engagements": 50, "reports": 2}),
        "orders": pd.DataFrame({"order_id": order_ids, "timestamp": AS_OF - 3 * DAY, "cancelled": False}),
        "creator_orders": pd.DataFrame({"order_id": order_ids, "product_id": order_ids % n_creators,
                                        "creator_id": order_ids // orders_each}),
        "returns": pd.DataFrame({"order_id": order_ids[::10], "timestamp": AS_OF - DAY,
                                 "reason": "no_reason"}),
        "reviews": pd.DataFrame({"order_id": order_ids[::2], "timestamp": AS_OF - DAY, "rating": 5}),
        "service_tickets": pd.DataFrame({"order_id": order_ids[::8], "opened_at": AS_OF - DAY,
                                         "first_response_seconds": 60.0, "escalated_to_dispute": False}),
    }


def test_the_worked_example_of_docs_scores_md():
    # docs/scores.md, "Creator reputation, a worked example": mall engagement rate 5%, 2000 pseudo-views
    assert shrunk_rate(30, 200, 0.05, 2000) == pytest.approx(130 / 2200)  # 200 views, 15%: 0.0591
    assert shrunk_rate(1500, 10000, 0.05, 2000) == pytest.approx(1600 / 12000)  # 10k views: 0.1333
    # two attributed orders, both returned for quality, mall rate 4%, 20 pseudo-orders
    assert shrunk_rate(2, 2, 0.04, 20) == pytest.approx(2.8 / 22)  # 0.127, not 1.0


def test_every_creator_gets_a_bounded_score_and_a_grade():
    out = creator_reputation(_mall(), AS_OF, ScoreSettings())
    for col in ("creator_reputation", "creator_content", "creator_product", "creator_service"):
        assert out[col].between(0, 100).all(), col
    assert set(out.creator_grade) <= {"A", "B", "C", "D"}
    assert out.creator_reputation.tolist() == pytest.approx([50.0] * 4)  # equal creators tie


@pytest.mark.parametrize("kind", ["quality_return", "bad_review", "dispute", "report"])
def test_a_creator_who_sells_worse_never_scores_higher(kind: str):
    mall = _mall()
    base = creator_reputation(mall, AS_OF, ScoreSettings()).creator_reputation
    c0 = mall["creator_orders"].creator_id == 0
    mine = mall["creator_orders"].order_id[c0].to_numpy()
    if kind == "quality_return":
        mall["returns"] = pd.concat([mall["returns"], pd.DataFrame(
            {"order_id": mine[1:6], "timestamp": AS_OF - DAY, "reason": "quality"})], ignore_index=True)
    elif kind == "bad_review":
        mall["reviews"].loc[mall["reviews"].order_id.isin(mine), "rating"] = 1
    elif kind == "dispute":
        tickets = mall["service_tickets"]
        tickets.loc[tickets.order_id.isin(mine), "escalated_to_dispute"] = True
    else:
        mall["creator_content"].loc[0, "reports"] = 60
    after = creator_reputation(mall, AS_OF, ScoreSettings()).creator_reputation
    assert after[0] < base[0]
    assert (after[1:] >= base[1:]).all()


def test_shrinkage_keeps_a_creator_with_two_bad_orders_near_the_mall():
    mall = _mall(orders_each=40)
    extra = pd.DataFrame({"order_id": [10_000, 10_001], "timestamp": AS_OF - DAY, "cancelled": False})
    mall["orders"] = pd.concat([mall["orders"], extra], ignore_index=True)
    mall["creators"] = pd.concat([mall["creators"], pd.DataFrame(
        {"creator_id": [9], "name": ["new"], "joined_at": 0})], ignore_index=True)
    mall["creator_orders"] = pd.concat([mall["creator_orders"], pd.DataFrame(
        {"order_id": [10_000, 10_001], "product_id": 0, "creator_id": 9})], ignore_index=True)
    mall["returns"] = pd.concat([mall["returns"], pd.DataFrame(
        {"order_id": [10_000, 10_001], "timestamp": AS_OF - DAY, "reason": "quality"})], ignore_index=True)
    out = creator_reputation(mall, AS_OF, ScoreSettings())
    assert out.quality_return_rate[9] < 0.15  # raw 2 of 2 = 1.0
    assert out.quality_return_rate[9] > out.quality_return_rate[0]


@pytest.fixture(scope="module")
def tables(small_mall: Path) -> dict[str, pd.DataFrame]:
    return load_frames(small_mall)


@pytest.fixture(scope="module")
def scores(tables):
    return compute_scores_from_tables(tables, end_of_data_ms(tables), ScoreSettings())


def test_the_score_follows_the_creators_latent_traits(scores, small_mall: Path):
    from training.evaluation.score_truth import truth_correlations

    assert len(scores.creators) == len(pd.read_parquet(small_mall / "truth" / "creators.parquet")) > 20
    rho = truth_correlations(scores, small_mall)
    # measured on the small mall (seed 7): 0.41, 0.996, 0.45, 0.57
    assert rho["creator_reputation_vs_reputation"] > 0.25
    assert rho["creator_content_vs_content_quality"] > 0.8
    assert rho["creator_product_vs_product_judgement"] > 0.2
    assert rho["creator_service_vs_service_conduct"] > 0.25


def test_a_product_carries_its_best_creators_score_and_others_none(scores, tables):
    content = tables["creator_content"]
    best = scores.creators.creator_reputation.reindex(content.creator_id).groupby(
        content.product_id.to_numpy()).max()
    got = scores.products.creator_reputation
    assert got.reindex(best.index).to_numpy() == pytest.approx(best.to_numpy())
    assert got.drop(best.index).isna().all()


def test_a_mall_without_creators_computes_every_other_score(scores, small_mall: Path, tmp_path: Path):
    for f in small_mall.glob("*.parquet"):
        if f.stem not in CREATOR_TABLES:
            shutil.copy(f, tmp_path / f.name)
    bare = compute_scores(tmp_path, None, ScoreSettings())
    assert bare.creators is not None and bare.creators.empty
    assert bare.products.creator_reputation.isna().all()
    assert bare.products.product_score.to_numpy() == pytest.approx(scores.products.product_score.to_numpy())
    assert bare.stores.store_experience_score.to_numpy() == pytest.approx(
        scores.stores.store_experience_score.to_numpy())
    assert (bare.stores.returning_content == 50).all()
    assert bare.stores.returning_customer_index.between(0, 100).all()


def test_explain_names_a_creators_three_reputations_and_refuses_an_unknown_one(scores):
    from ranking.scores.explain import explain_creator

    cid = int(scores.creators.index[0])
    text = explain_creator(scores, cid)
    assert f"creator reputation {scores.creators.creator_reputation[cid]:.1f} / 100" in text
    assert all(f"  {r} " in text for r in ("content", "product", "service"))
    with pytest.raises(KeyError):
        explain_creator(scores, 10**9)
    frame = scores.to_frame()
    assert (frame.entity == "creator").sum() == len(scores.creators)


def test_the_cli_explains_a_creator_and_wants_exactly_one_entity(small_mall: Path):
    from typer.testing import CliRunner

    from shelfrank.cli import app as cli

    ok = CliRunner().invoke(cli, ["scores", "explain", "--data", str(small_mall), "--creator", "0"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("creator 0: creator reputation ")
    both = CliRunner().invoke(cli, ["scores", "explain", "--data", str(small_mall), "--creator", "0",
                                    "--store", "1"])
    assert both.exit_code == 2 and "exactly one of --store, --product or --creator" in both.output
    unknown = CliRunner().invoke(cli, ["scores", "explain", "--data", str(small_mall), "--creator", "99999"])
    assert unknown.exit_code == 1
