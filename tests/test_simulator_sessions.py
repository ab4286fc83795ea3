"""Multi-page simulated sessions with a mission: pages, the mission's pull, its fading, its truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranking.contracts import read_table
from ranking.settings import MallSettings, SimulatorSettings
from training.simulator import Truth, simulate
from training.simulator.behaviour import mission_strength


def _cards(mall: Path) -> pd.DataFrame:
    """Every impression with its request's session truth, its product's leaf and whether it was clicked."""
    imp = read_table(mall, "impressions", ["request_id", "timestamp", "user_id", "surface", "product_id",
                                           "position"]).to_pandas()
    clicks = read_table(mall, "clicks", ["request_id", "product_id"]).to_pandas().drop_duplicates()
    products = read_table(mall, "products", ["product_id", "category_id"]).to_pandas()
    requests = pd.read_parquet(mall / "truth" / "requests.parquet")
    cards = imp.merge(requests, on="request_id", how="left", validate="many_to_one")
    cards = cards.merge(products, on="product_id").merge(clicks.assign(clicked=True), how="left",
                                                         on=["request_id", "product_id"])
    cards["clicked"] = cards.clicked.fillna(False).astype(bool)
    cards["in_mission"] = cards.category_id == cards.mission_category_id
    return cards


def _silent_sessions(mall: Path, cards: pd.DataFrame) -> set[int]:
    """Sessions with a page that logged no card (every candidate's store closed that day, or out
    of stock): the logs hold neither its time nor its query. Rare; the checks below that read
    the logs leave such sessions out."""
    requests = pd.read_parquet(mall / "truth" / "requests.parquet")
    silent = requests[~requests.request_id.isin(cards.request_id)]
    assert len(silent) <= 0.001 * len(requests), len(silent)
    return set(silent.session_id.astype(int))


def _two_proportion_z(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    p = (hits_a + hits_b) / (n_a + n_b)
    return (hits_a / n_a - hits_b / n_b) / np.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))


@pytest.fixture(scope="module")
def no_mission_mall(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small mall with the same seed and no mission pull (``mission_boost=0``)."""
    out = tmp_path_factory.mktemp("no_mission_mall")
    simulate(out, SimulatorSettings(scale="small", seed=7, mission_boost=0.0), MallSettings(), progress=False)
    return out


def test_sessions_have_several_pages_by_one_shopper_minutes_apart(small_mall: Path) -> None:
    s = SimulatorSettings()
    cards = _cards(small_mall)
    assert cards.session_id.notna().all()  # the truth knows every logged request
    requests = cards.drop_duplicates("request_id")
    pages = requests.groupby("session_id").size()
    assert pages.max() <= s.session_max_pages and (pages >= 2).mean() > 0.25
    assert 1.3 < pages.mean() < 3.0
    assert (requests.groupby("session_id").user_id.nunique() == 1).all()
    by = requests[~requests.session_id.isin(_silent_sessions(small_mall, cards))].sort_values(
        ["session_id", "page"])
    gap = by.groupby("session_id").timestamp.diff().dropna().dt.total_seconds()
    lo, hi = s.session_page_gap_seconds
    assert gap.between(lo, hi).all()
    # pages are numbered 0, 1, ... within a session (in the truth: a page whose every candidate was
    # filtered out, 1 of 19,121 requests on the small mall since issue 29, logs no impression), and
    # request ids follow time
    truth = pd.read_parquet(small_mall / "truth" / "requests.parquet").sort_values(["session_id", "page"])
    assert (truth.groupby("session_id").page.transform(lambda p: p.to_numpy() == np.arange(len(p)))).all()
    assert requests.sort_values("request_id").timestamp.is_monotonic_increasing


def test_an_order_ends_the_session(small_mall: Path) -> None:
    requests = pd.read_parquet(small_mall / "truth" / "requests.parquet")
    orders = read_table(small_mall, "orders", ["request_id"]).to_pandas()
    ordered = requests[requests.request_id.isin(orders.request_id)]
    last = requests.groupby("session_id").page.max()
    assert len(ordered) > 500
    assert (ordered.page.to_numpy() == last.loc[ordered.session_id].to_numpy()).all()


def test_the_mission_raises_clicks_on_its_leaf(small_mall: Path, no_mission_mall: Path) -> None:
    """The same seeded mall with and without the mission's pull: homepage cards of the mission
    leaf are clicked far more often with it (cards of other leaves barely move)."""
    rates = {}
    for name, mall in (("mission", small_mall), ("none", no_mission_mall)):
        home = _cards(mall)
        home = home[home.surface == "homepage"]
        inside = home[home.in_mission]
        rates[name] = (int(inside.clicked.sum()), len(inside), home[~home.in_mission].clicked.mean())
    (hits_m, n_m, out_m), (hits_0, n_0, out_0) = rates["mission"], rates["none"]
    assert n_m > 5_000 and n_0 > 5_000
    assert hits_m / n_m > 1.25 * hits_0 / n_0
    assert _two_proportion_z(hits_m, n_m, hits_0, n_0) > 8
    assert abs(out_m / out_0 - 1) < 0.15


def test_the_mission_fades_page_by_page(small_mall: Path) -> None:
    s = SimulatorSettings()
    strength = mission_strength(np.arange(4), s.mission_boost, s.mission_half_life_pages)
    assert strength[0] == s.mission_boost and np.all(np.diff(strength) < 0)
    assert strength[3] == pytest.approx(s.mission_boost * 0.5 ** (3 / s.mission_half_life_pages))
    requests = pd.read_parquet(small_mall / "truth" / "requests.parquet")
    expected = mission_strength(requests.page.to_numpy(), s.mission_boost, s.mission_half_life_pages)
    assert np.allclose(requests.mission_strength, expected)
    # in the logs: mission-leaf cards are clicked less on later pages of a session
    cards = _cards(small_mall)
    inside = cards[cards.in_mission & (cards.surface == "homepage")]
    first, later = inside[inside.page == 0], inside[inside.page >= 2]
    assert len(later) > 1_000
    assert _two_proportion_z(int(first.clicked.sum()), len(first), int(later.clicked.sum()), len(later)) > 3


def test_the_truth_keeps_each_requests_mission_and_the_oracle_values_it(small_mall: Path) -> None:
    truth = Truth.load(small_mall)
    requests = truth.requests
    assert list(requests.columns) == ["request_id", "session_id", "page", "mission_category_id",
                                      "mission_strength", "mission_revealed"]
    assert not requests[requests.page == 0].mission_revealed.any()
    assert requests[requests.page >= 2].mission_revealed.mean() > 0.5
    # a mission is revealed only by an earlier search for its leaf or click on one of its products
    cards = _cards(small_mall)
    queries = pd.read_parquet(small_mall / "truth" / "queries.parquet")
    imp_q = read_table(small_mall, "impressions", ["request_id", "query_id"]).to_pandas().dropna()
    searched = imp_q.drop_duplicates("request_id").merge(queries, on="query_id")
    searched = searched.merge(requests, on="request_id")
    tells = set(searched[searched.category_id == searched.mission_category_id].session_id.astype(int))
    tells |= set(cards[cards.clicked & cards.in_mission].session_id.astype(int))
    revealed = set(requests[requests.mission_revealed].session_id) - _silent_sessions(small_mall, cards)
    assert revealed <= tells
    # the oracle: the same card is worth more inside its mission, less as the mission fades
    row = requests[requests.page == 0].iloc[0]
    leaf, strength = truth.session_mission(np.array([row.request_id, -5]))
    assert leaf[0] == truth.mission_leaf_of(row.mission_category_id) and strength[0] == row.mission_strength
    assert leaf[1] == -1 and strength[1] == 0.0
    products = read_table(small_mall, "products", ["product_id", "category_id"]).to_pandas()
    ids = products[products.category_id == row.mission_category_id].product_id.to_numpy()[:20]
    user = np.full(len(ids), 3)

    def value(s: float) -> np.ndarray:
        return truth.purchase_probability(user, ids, np.full(len(ids), 20), "homepage",
                                          mission_leaf=np.full(len(ids), leaf[0]),
                                          mission_strength=np.full(len(ids), s))

    plain = truth.purchase_probability(user, ids, np.full(len(ids), 20), "homepage")
    assert np.allclose(value(0.0), plain)
    assert np.all(value(row.mission_strength) > plain) and np.all(value(0.5) < value(1.0))
