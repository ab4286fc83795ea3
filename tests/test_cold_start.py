"""Cold start's bandit: who is new, the leaf prior and the posterior, Thompson sampling's
propensities, graduation and retirement (ranking/cold_start/)."""

from __future__ import annotations

import numpy as np
import pytest
from rules_mall import rules_snapshot

from ranking.cold_start import (
    EXPLORING,
    GRADUATED,
    RETIRED,
    LeafRates,
    cold_start_view,
    new_products,
    posteriors,
    stages,
    thompson_draw,
    win_probabilities,
)
from ranking.cold_start.bandit import FLOOR, PoolQuadrature, grid_points
from ranking.cold_start.newness import DAY_MS
from ranking.settings import ColdStartSettings

NOW = 100 * DAY_MS


def counted_snapshot():
    """30 products, leaf 11 (rows 0-14) converting 1% of impressions, leaf 12 (15-29) 0.1%."""
    snap = rules_snapshot()
    cols = snap.products.columns
    cols["listed_at"] = np.full(30, NOW - 90 * DAY_MS, np.float64)
    cols["impressions_n"] = np.full(30, 1000.0, np.float32)
    cols["clicks_n"] = np.where(np.arange(30) < 15, 50.0, 20.0).astype(np.float32)
    cols["orders_n"] = np.where(np.arange(30) < 15, 10.0, 1.0).astype(np.float32)
    snap.stores.columns["opened_at"] = np.full(3, NOW - 400 * DAY_MS, np.float64)
    return snap


def test_new_means_listed_in_the_product_window_or_of_a_store_in_the_store_window():
    snap = counted_snapshot()
    snap.products.columns["listed_at"][[0, 1, 2]] = [NOW - 13 * DAY_MS, NOW - 15 * DAY_MS, NOW + DAY_MS]
    snap.stores.columns["opened_at"][2] = NOW - 29 * DAY_MS  # products 2, 5, 8, ... are store 2's
    new_product, new_store = new_products(snap, snap.products.ids, NOW, ColdStartSettings())
    assert np.flatnonzero(new_product).tolist() == [0]  # 15 days is past 14; a future listing is not new
    assert np.flatnonzero(new_store).tolist() == list(range(2, 30, 3))
    narrow = ColdStartSettings(new_product_days=10, new_store_days=20)
    assert not any(a.any() for a in new_products(snap, snap.products.ids, NOW, narrow))


def test_a_bundle_without_opened_at_reads_the_new_store_flag():
    snap = counted_snapshot()
    del snap.stores.columns["opened_at"]
    snap.stores.columns["new_store"][1] = 1
    _, new_store = new_products(snap, snap.products.ids, NOW, ColdStartSettings())
    assert np.flatnonzero(new_store).tolist() == list(range(1, 30, 3))


def test_leaf_rates_are_the_leaf_counts_shrunk_toward_the_mall():
    snap = counted_snapshot()
    rates = LeafRates.of(snap, strength=200.0)
    mall = (150 + 15) / 30_000
    assert rates.mall_order_rate == pytest.approx(mall)
    order, click = rates.rates(np.array([11, 12, 99]))
    assert order[0] == pytest.approx((150 + 200 * mall) / (15_000 + 200))  # 0.99%
    assert order[1] == pytest.approx((15 + 200 * mall) / (15_000 + 200))
    assert order[2] == pytest.approx(mall)  # a leaf the bundle does not hold: the mall's rate
    assert click[0] == pytest.approx((750 + 200 * 1050 / 30_000) / 15_200)


def test_the_posterior_is_the_prior_plus_the_counts():
    # the docstring's worked example: leaf rate 0.002, 300 impressions, 3 orders
    post = posteriors(np.array([0.002]), np.array([0.05]), np.array([300.0]), np.array([12.0]),
                      np.array([3.0]), strength=200.0)
    assert post.order_alpha[0] == pytest.approx(3.4) and post.order_beta[0] == pytest.approx(496.6)
    assert post.order_mean[0] == pytest.approx(3.4 / 500)
    assert post.click_alpha[0] == pytest.approx(22.0) and post.click_beta[0] == pytest.approx(478.0)
    fresh = posteriors(np.array([0.002]), np.array([0.05]), np.zeros(1), np.zeros(1), np.zeros(1), 200.0)
    assert fresh.order_mean[0] == pytest.approx(0.002)  # no evidence: the leaf's rate


def test_propensities_sum_to_one_over_the_pool_and_match_the_win_frequencies_of_many_draws():
    alpha, beta = np.array([3.0, 5.0, 2.0, 8.0]), np.array([300.0, 300.0, 300.0, 300.0])
    pick, p = thompson_draw(alpha, beta, np.random.default_rng(1))
    assert p.sum() == pytest.approx(1.0) and p[pick] > 0
    assert np.argmax(p) == 3  # the highest posterior mean wins most draws
    exact = _win_frequencies(alpha, beta)
    assert np.abs(p - exact).max() < 0.003  # 400,000 draws: a standard error under 0.0008


@pytest.mark.parametrize("seed", range(6))
def test_the_quadrature_matches_many_draws_on_mixed_evidence_and_the_pick_follows_it(seed):
    """Pools of fresh (prior only) and well-observed products, wide and narrow posteriors."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 31))
    rate, shown = rng.uniform(0.002, 0.08, n), rng.choice([0, 10, 100, 1000, 3000], n)
    alpha = 200 * rate + rate * shown * rng.uniform(0.5, 1.5, n)
    beta = 200 + shown - alpha
    p = win_probabilities(alpha, beta)
    assert np.abs(p - _win_frequencies(alpha, beta)).max() < 0.004
    assert np.abs(win_probabilities(alpha, beta, 8192) - p).max() < 1e-3  # the default grid suffices
    picks = np.bincount([thompson_draw(alpha, beta, np.random.default_rng(s))[0] for s in range(3000)],
                        minlength=n) / 3000
    assert np.abs(picks - p).max() < 0.04  # the logged propensity is the policy's own pick rate


def _win_frequencies(alpha, beta):
    samples = np.random.default_rng(99).beta(alpha, beta, size=(400_000, len(alpha)))
    return np.bincount(samples.argmax(axis=1), minlength=len(alpha)) / len(samples)


def test_the_draw_is_the_same_for_the_same_seed():
    alpha, beta = np.arange(1.0, 11.0), np.full(10, 400.0)
    a = thompson_draw(alpha, beta, np.random.default_rng(7))
    b = thompson_draw(alpha, beta, np.random.default_rng(7))
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    picks = {thompson_draw(alpha, beta, np.random.default_rng(s))[0] for s in range(40)}
    assert len(picks) > 2, "different seeds explore different products"


def _win_by_logs(alpha, beta, grid=256):
    """The quadrature as first written (the others' product as exp of a sum of logs)."""
    x = grid_points(alpha, beta, grid)
    log_pdf = np.outer(alpha - 1, np.log(x)) + np.outer(beta - 1, np.log1p(-x))
    pdf = np.exp(log_pdf - log_pdf.max(axis=1, keepdims=True))
    pdf /= pdf.sum(axis=1, keepdims=True)
    log_cdf = np.log(np.maximum(np.cumsum(pdf, axis=1) - 0.5 * pdf, FLOOR))
    wins = (pdf * np.exp(log_cdf.sum(axis=0) - log_cdf)).sum(axis=1)
    return wins / wins.sum()


@pytest.mark.parametrize("seed", range(4))
def test_the_product_of_the_others_cdfs_is_the_sum_of_their_logs_to_1e12(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    alpha = 0.05 + rng.integers(0, 4, n) + rng.gamma(1.0, 2.0, n)
    beta = 20 + rng.integers(0, 2000, n).astype(float)
    assert np.allclose(win_probabilities(alpha, beta), _win_by_logs(alpha, beta), rtol=1e-12, atol=1e-300)


def test_the_pool_quadrature_keeps_rows_while_the_grid_holds_and_starts_anew_when_it_moves():
    rng = np.random.default_rng(3)
    alpha, beta = 0.4 + rng.integers(0, 4, 31).astype(float), 199.6 + rng.integers(0, 400, 31)
    quad, keys = PoolQuadrature(256), list(range(31))
    first = quad(keys[:30], alpha[:30], beta[:30])
    assert np.array_equal(first, win_probabilities(alpha[:30], beta[:30]))
    kept = dict(quad._at)
    second = [*keys[:4], *keys[5:]]  # the pick leaves, the next candidate joins
    same_grid = np.array_equal(grid_points(alpha[second], beta[second], 256), quad._x)
    assert np.array_equal(quad(second, alpha[second], beta[second]),
                          win_probabilities(alpha[second], beta[second]))  # the same floats
    if same_grid:
        assert all(quad._at[k] == kept[k] for k in keys[5:30])  # reused, not recomputed
    wide = np.r_[alpha[:5], 40.0], np.r_[beta[:5], 100.0]  # a member far above: the grid moves
    assert np.array_equal(quad([*keys[:5], 99], *wide), win_probabilities(*wide))
    assert np.array_equal(quad._x, grid_points(*wide, 256))
    assert set(quad._at) == {*keys[:5], 99}  # rows of the old grid dropped
    a, b = PoolQuadrature(256).draw(keys[:30], alpha[:30], beta[:30], np.random.default_rng(5))
    c, d = thompson_draw(alpha[:30], beta[:30], np.random.default_rng(5))
    assert a == c and np.allclose(b, d, rtol=1e-12)  # the same draw from the same stream
    assert PoolQuadrature().draw([7], alpha[:1], beta[:1], np.random.default_rng(0))[0] == 0


@pytest.mark.parametrize("seed", range(6))
def test_a_pools_propensities_are_the_same_floats_whatever_the_quadrature_kept(seed):
    """Successive pools of one request (a pick leaves, the next candidate joins, sometimes one
    far off that moves the grid) against each pool computed alone: bit for bit."""
    rng = np.random.default_rng(seed)
    n = 60
    alpha = 0.05 + rng.integers(0, 4, n) + rng.gamma(1.0, 2.0, n)
    beta = 20 + rng.integers(0, 2000, n).astype(float)
    alpha[rng.integers(0, n, 3)] = 30.0  # a few far above the rest move the grid when they join
    quad, pool, nxt = PoolQuadrature(256), list(range(30)), 30
    for _ in range(12):
        p = quad(pool, alpha[pool], beta[pool])
        assert np.array_equal(p, win_probabilities(alpha[pool], beta[pool]))
        assert np.array_equal(quad._x, grid_points(alpha[pool], beta[pool], 256))
        pool.pop(int(rng.integers(len(pool))))
        pool.append(nxt)
        nxt += 1


def test_a_pool_of_one_is_placed_with_propensity_one():
    pick, p = thompson_draw(np.array([1.0]), np.array([9.0]), np.random.default_rng(0))
    assert pick == 0 and p.tolist() == [1.0]


def test_graduation_by_impressions_and_retirement_below_the_leaf():
    settings = ColdStartSettings(graduation_impressions=1000, retire_confidence=0.95)
    rate = np.full(4, 0.01)
    post = posteriors(rate, rate * 5, np.array([0.0, 1000.0, 900.0, 900.0]), np.zeros(4),
                      np.array([0.0, 0.0, 0.0, 18.0]), strength=200.0)
    assert stages(post, settings).tolist() == [EXPLORING, GRADUATED, RETIRED, EXPLORING]
    lenient = ColdStartSettings(graduation_impressions=5000, retire_confidence=0.99999)
    assert stages(post, lenient)[2] == EXPLORING


def test_the_view_adds_the_live_days_counts_to_the_bundles():
    snap = counted_snapshot()
    snap.products.columns["listed_at"][[3, 4]] = NOW - DAY_MS
    calls = []

    def live(ids, at_ms):
        calls.append((ids.tolist(), at_ms))
        n = len(ids)
        return {"day_impressions": np.full(n, 100.0), "day_clicks": np.full(n, 5.0),
                "day_orders": np.array([2.0, 0.0])}

    settings = ColdStartSettings()
    view = cold_start_view(snap, snap.products.ids, NOW, live, settings, LeafRates.of(snap, 200.0))
    assert view.rows.tolist() == [3, 4] and calls == [([103, 104], NOW)]
    assert view.posterior.impressions.tolist() == [1100.0, 1100.0]
    assert view.posterior.orders.tolist() == [12.0, 10.0]
    alone = cold_start_view(snap, snap.products.ids, NOW, None, settings, LeafRates.of(snap, 200.0))
    assert alone.posterior.impressions.tolist() == [1000.0, 1000.0]  # no live state: the bundle's only


def test_the_budget_names_surfaces_and_positions_or_is_refused():
    from pydantic import ValidationError

    from ranking.settings import load_settings

    assert load_settings(['cold_start.slots={"search": []}']).cold_start.slots["search"] == []
    for bad in ('{"hompage": [3]}', '{"homepage": [0]}'):
        with pytest.raises(ValidationError):
            load_settings([f"cold_start.slots={bad}"])


def test_below_leaf_is_scipys_beta_cdf_exactly_edges_included():
    from scipy.stats import beta as beta_distribution

    from ranking.cold_start.posterior import Posteriors
    from ranking.cold_start.stages import below_leaf

    rng = np.random.default_rng(3)
    a = np.concatenate([rng.gamma(1.0, 3.0, 200), [0.0, -1.0, np.nan, 2.0, 2.0, 2.0, 2.0]])
    b = np.concatenate([rng.gamma(2.0, 300.0, 200), [5.0, 5.0, 5.0, 0.0, 5.0, 5.0, 5.0]])
    x = np.concatenate([rng.uniform(0, 0.02, 200), [0.1, 0.1, 0.1, 0.1, 0.0, 1.0, np.nan]])
    post = Posteriors(a, b, a, b, a, a, a, x)
    np.testing.assert_array_equal(below_leaf(post), beta_distribution.cdf(x, a, b))


def test_nan_to_is_numpys_nan_to_num():
    from ranking.cold_start.posterior import nan_to

    x = np.array([0.0, -0.0, 1.5, -2.0, np.nan, np.inf, -np.inf, 3e300, np.nan])
    for nan in (0.0, -1.0):
        got, want = nan_to(x, nan=nan), np.nan_to_num(x, nan=nan)
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))


def test_a_view_of_nothing_new_is_the_computed_empty_view_without_computing_it(monkeypatch):
    snap = counted_snapshot()  # every product listed 90 days ago, every store 400 days ago
    settings, rates = ColdStartSettings(), LeafRates.of(snap, 200.0)
    import ranking.cold_start.view as view_module
    from ranking.cold_start.posterior import posteriors as computed_posteriors

    quick = cold_start_view(snap, snap.products.ids, NOW, None, settings, rates)
    computed = computed_posteriors(*(np.zeros(0) for _ in range(5)), strength=200.0)
    assert quick.rows.tolist() == [] and not quick.new.any()
    for name, value in vars(computed).items():  # the same empty arrays, of the same dtypes
        assert getattr(quick.posterior, name).dtype == value.dtype and not len(getattr(quick.posterior, name))
    assert quick.stage.dtype == stages(computed, settings).dtype and not len(quick.stage)
    with pytest.raises(ValueError):
        quick.stage.resize(1)  # shared by every such view: read only

    def never(*args, **kwargs):
        raise AssertionError("posteriors or stages computed for no new product")

    monkeypatch.setattr(view_module, "posteriors", never)
    monkeypatch.setattr(view_module, "stages", never)
    cold_start_view(snap, snap.products.ids, NOW, None, settings, rates)


@pytest.mark.parametrize("seed", range(4))
def test_rows_kept_across_requests_give_the_same_floats_and_a_moved_posterior_is_computed_anew(
        seed, monkeypatch):
    import ranking.cold_start.bandit as bandit

    rng = np.random.default_rng(seed)
    n = 40
    alpha = 0.05 + rng.integers(0, 4, n) + rng.gamma(1.0, 2.0, n)
    beta = 20 + rng.integers(0, 2000, n).astype(float)
    kept = bandit.MemberRows(size=64)
    computed = []
    inner = bandit.member_rows

    def counted(a, b, x, logs=None):
        computed.append(len(a))
        return inner(a, b, x, logs)

    alpha[0], beta[0] = 2.0, 20.0  # the widest, in every pool: it sets the grid (as on real pages)
    monkeypatch.setattr(bandit, "member_rows", counted)
    seen: set[int] = set()
    for _request in range(6):  # each request its own quadrature, the kept rows shared
        pool = [0, *sorted(rng.choice(np.arange(1, n), 29, replace=False).tolist())]
        computed.clear()
        got = PoolQuadrature(256, kept)(pool, alpha[pool], beta[pool])
        assert sum(computed) == len(set(pool) - seen)  # only members not met before
        seen |= set(pool)
        assert np.array_equal(got, win_probabilities(alpha[pool], beta[pool]))  # bit for bit
    beta[pool[3]] += 100.0  # the live counts moved: another posterior, never the old row
    computed.clear()
    got = PoolQuadrature(256, kept)(pool, alpha[pool], beta[pool])
    assert computed == [1]
    assert np.array_equal(got, win_probabilities(alpha[pool], beta[pool]))
    assert len(kept) <= 64
    row = next(iter(kept._kept._values.values()))[0]
    assert not row.flags.writeable and row.base is None  # read only, not a view of its batch


def test_leaf_rates_are_computed_once_per_version_of_their_columns(monkeypatch) -> None:
    import gc

    from ranking.cold_start.posterior import LeafRates, leaf_rates
    from ranking.features.snapshot import EntityTable

    computed = []
    of_table = LeafRates.of_table
    monkeypatch.setattr(LeafRates, "of_table", classmethod(
        lambda cls, products, s: computed.append(products) or of_table.__func__(cls, products, s)))
    cols = {"category_id": np.array([1.0, 1.0, 2.0]), "impressions_n": np.array([10.0, 0.0, 5.0]),
            "clicks_n": np.array([1.0, 0.0, 0.0]), "orders_n": np.array([1.0, 0.0, 0.0])}
    table = EntityTable(np.array([7, 8, 9]), cols)
    first = leaf_rates(table, 200.0)
    assert leaf_rates(EntityTable(table.ids, dict(cols)), 200.0) is first  # the same columns
    assert len(computed) == 1
    leaf_rates(table, 100.0)  # another strength
    moved = EntityTable(table.ids, {**cols, "clicks_n": np.array([1.0, 1.0, 0.0])})  # a new count column
    again = leaf_rates(moved, 200.0)
    assert len(computed) == 3 and again is not first
    assert again.click_rate.tobytes() == of_table.__func__(LeafRates, moved, 200.0).click_rate.tobytes()
    del moved, again
    gc.collect()
    leaf_rates(EntityTable(table.ids, {**cols, "clicks_n": np.array([1.0, 1.0, 0.0])}), 200.0)
    assert len(computed) == 4, "a version whose column is gone is not answered for a new one"
