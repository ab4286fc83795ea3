"""The adjusters, each alone: how far they move a candidate, and the note they leave."""

from __future__ import annotations

import numpy as np
import pytest
from rules_mall import rules_request, rules_snapshot, scored

from ranking.pipeline.adjusters import Demotion, ThemeBoost, ValueTilt, default_adjusters, score_spread
from ranking.settings import RulesSettings


def test_demotion_moves_flagged_products_and_stores_down_in_score_spread_units():
    snap = rules_snapshot()
    snap.products.columns["demoted"][2] = 1
    snap.stores.columns["demoted"][1] = 1  # products 1, 4, 7, ... belong to store 1
    c = scored(snap)
    spread = float(np.std(c.scores))
    Demotion(RulesSettings(demotion_penalty=2.0)).apply(c, rules_request(), snap)
    assert c.adjustments[[2, 4]] == pytest.approx([-2.0 * spread] * 2)
    assert c.adjustments[0] == 0 and c.adjustments[3] == 0
    assert c.rule_notes[2][0]["rule"] == "demotion" and c.scores[2] == -2  # model score untouched
    assert c.rule_notes[2][0]["why"].startswith("product") and c.rule_notes[4][0]["why"].startswith("store")
    assert c.rule_notes[0] == [] and c.rule_notes[3] == []  # code 0: no note


def test_demotion_follows_a_replaced_flag_column_or_store_table():
    snap = rules_snapshot()
    demotion = Demotion(RulesSettings(demotion_penalty=2.0))
    c = scored(snap)
    demotion.apply(c, rules_request(), snap)
    assert not c.adjustments.any()
    flags = snap.products.columns["demoted"].copy()
    flags[3] = 1
    snap.products.columns["demoted"] = flags  # the live catalog swaps a changed column, never writes it
    c = scored(snap)
    demotion.apply(c, rules_request(), snap)
    assert c.adjustments.nonzero()[0].tolist() == [3] and c.rule_notes[3][0]["why"].startswith("product")
    store_flags = snap.stores.columns["demoted"].copy()
    store_flags[1] = 1  # products 1, 4, 7, ...
    snap.stores.columns["demoted"] = store_flags
    c = scored(snap)
    demotion.apply(c, rules_request(), snap)
    assert c.adjustments.nonzero()[0].tolist()[:4] == [1, 3, 4, 7]
    assert c.rule_notes[4][0]["why"].startswith("store") and c.rule_notes[3][0]["why"].startswith("product")
    del snap.stores.columns["demoted"]  # a bundle without store flags: only the product's count
    c = scored(snap)
    demotion.apply(c, rules_request(), snap)
    assert c.adjustments.nonzero()[0].tolist() == [3]


def test_theme_boost_moves_the_slots_theme_up_in_score_spread_units():
    snap = rules_snapshot()
    c = scored(snap)
    spread = float(np.std(c.scores))
    ThemeBoost(RulesSettings(theme_boost=0.5)).apply(c, rules_request(hour=9), snap)  # morning = leaf 11
    assert c.adjustments[0] == pytest.approx(0.5 * spread) and c.adjustments[29] == 0
    assert c.rule_notes[0][0]["why"] == "category is the theme at 09:00"
    c2 = scored(snap)
    ThemeBoost(RulesSettings(theme_boost=0.5)).apply(c2, rules_request(hour=20), snap)  # evening = leaf 12
    assert c2.adjustments[0] == 0 and c2.adjustments[29] > 0


def test_theme_boosts_slot_of_the_hour_is_slot_of_hours():
    from ranking.features.inputs import slot_of_hour
    from ranking.pipeline.adjusters.theme_boost import slot_now

    for hour in [*range(-2, 27), np.int64(7), 13.0]:
        assert slot_now(hour) == int(slot_of_hour(np.array([hour]))[0])


def test_score_spread_is_the_std_or_one_when_undefined():
    assert score_spread(np.array([1.0, 3.0])) == 1.0 and score_spread(np.array([0.0, 4.0])) == 2.0
    assert score_spread(np.array([5.0])) == 1.0 and score_spread(np.array([2.0, 2.0])) == 1.0


def test_score_spread_of_float64_scores_is_np_std_to_the_bit_without_calling_it(monkeypatch):
    import ranking.pipeline.adjusters.spread as spread_module

    rng = np.random.default_rng(30)
    cases = [rng.normal(rng.uniform(-5, 5) * 10.0 ** k, 10.0 ** k, n)
             for k in (-6, -1, 0, 2, 7) for n in (2, 3, 17, 128, 129, 431, 500, 4_099)]
    cases += [np.round(c, 2) for c in cases[:20]] + [np.array([1e300, -1e300, 3e299]), np.array([0.0, -0.0]),
                                                    np.array([np.nan, 1.0]), np.array([np.inf, 1.0])]
    with np.errstate(over="ignore", invalid="ignore"):  # the huge and infinite cases overflow alike
        want = [float(np.std(c)) for c in cases]
        monkeypatch.setattr(spread_module.np, "std", None)  # the float64 path never calls it
        for c, w in zip(cases, want, strict=True):
            got = spread_module.std_float64(c)
            assert got == w or (np.isnan(got) and np.isnan(w)), (len(c), got, w)
            assert spread_module._spread(c) == (w if w > 1e-12 else 1.0) or np.isnan(w)


def test_score_spread_is_kept_per_scores_array_and_thread(monkeypatch):
    import threading

    import ranking.pipeline.adjusters.spread as spread_module

    scores = np.array([0.0, 4.0])
    assert score_spread(scores) == 2.0
    calls = []
    real = spread_module._spread
    monkeypatch.setattr(spread_module, "_spread", lambda a: calls.append(1) or real(a))
    assert score_spread(scores) == 2.0 and not calls  # the page's next adjuster: kept
    assert score_spread(np.array([0.0, 4.0])) == 2.0 and len(calls) == 1  # another page's array
    assert score_spread(np.array([0.0, 8.0])) == 4.0 and len(calls) == 2
    other = []
    thread = threading.Thread(target=lambda page=scores: other.append(score_spread(page)))
    thread.start()
    thread.join()
    assert other == [2.0] and len(calls) == 3  # each thread keeps its own
    del scores  # a freed array is never read back, even if a new one takes its address
    assert score_spread(np.array([1.0, 3.0])) == 1.0 and len(calls) == 4


def test_default_adjusters_run_demotion_theme_then_value():
    names = [a.name for a in default_adjusters(RulesSettings(), score_is_log_odds=True)]
    assert names == ["demotion", "traffic_policy", "theme_boost", "session_intent", "value_tilt",
                     "merchandising"]


def test_value_tilt_adds_weight_times_log_price_over_the_median_on_log_odds_scores_only():
    snap = rules_snapshot(n=5)  # prices 10, 32.5, 55, 77.5, 100
    c = scored(snap)
    ValueTilt(RulesSettings(value_weight=0.0)).apply(c, rules_request(), snap)
    ValueTilt(RulesSettings(value_weight=0.5), score_is_log_odds=False).apply(c, rules_request(), snap)
    assert (c.adjustments == 0).all() and all(not c.notes(i) for i in range(len(c)))
    ValueTilt(RulesSettings(value_weight=0.5)).apply(c, rules_request(), snap)
    price = snap.products.columns["price"].astype(np.float64)
    np.testing.assert_allclose(c.adjustments, 0.5 * (np.log(price) - np.log(55.0)), rtol=1e-6)
    assert c.notes(0)[0]["why"].startswith("cheaper") and c.notes(4)[0]["why"].startswith("dearer")
    assert c.notes(2) == []  # the median candidate does not move
    assert c.rule_notes[0] == []  # a vector, not 5 per-candidate notes
    page = c.take(np.array([4, 0]))  # the notes follow the candidates through take
    assert page.notes(0)[0]["delta"] == pytest.approx(c.adjustments[4]) and page.notes(1)[0]["delta"] < 0
    # a unit of weight turns a log-odds score into log expected order value: the ordering
    # becomes purchase probability x price (same probability -> dearer first)
    c3 = scored(snap)
    c3.scores = np.zeros(5)
    ValueTilt(RulesSettings(value_weight=1.0)).apply(c3, rules_request(), snap)
    assert list(np.argsort(-(c3.scores + c3.adjustments))) == [4, 3, 2, 1, 0]
    with pytest.raises(ValueError):
        RulesSettings(value_weight=-1)


def test_value_tilt_reads_the_prices_of_the_current_price_column_and_unknown_products_stay():
    """The floored prices are kept per price column (``FLOORED_PRICES``): a swapped column (the live
    catalog swaps a changed one whole) is read anew; an unknown product moves not at all."""
    snap = rules_snapshot(n=5)  # prices 10, 32.5, 55, 77.5, 100
    tilt = ValueTilt(RulesSettings(value_weight=0.5))

    def moves():
        c = scored(snap, np.array([100, 104, 999], np.int64))
        tilt.apply(c, rules_request(), snap)
        return c.adjustments

    middle = np.sqrt(10 * 100)  # the two known prices' log median
    np.testing.assert_allclose(moves(), [0.5 * np.log(10 / middle), 0.5 * np.log(100 / middle), 0])
    snap.products.columns["price"] = np.array([100, 1, 1, 1, 0.001], np.float32)  # 0.001: floored at 0.01
    np.testing.assert_allclose(moves(), [0.5 * np.log(100 / 1), 0.5 * np.log(0.01 / 1), 0])



@pytest.mark.parametrize("with_unknown", [False, True])
def test_value_tilt_moves_are_the_masked_formulas_to_the_bit_with_or_without_unknown_products(with_unknown):
    """Every candidate's price known: the moves are computed without the known mask, and are the
    masked formula's floats to the bit (an unknown product's candidate takes the masked path)."""
    from ranking.pipeline.adjusters.value_tilt import middle

    snap = rules_snapshot(n=301)
    rng = np.random.default_rng(7)
    snap.products.columns["price"] = rng.lognormal(3, 1.5, 301).astype(np.float32)
    ids = rng.permutation(snap.products.ids)[:211]
    if with_unknown:
        ids = np.r_[ids, 5, 99_999]
    c = scored(snap, ids)
    ValueTilt(RulesSettings(value_weight=0.7)).apply(c, rules_request(), snap)
    price = snap.products.take("price", snap.products.rows(ids))
    log_price = np.log(np.maximum(price, 0.01))
    known = np.isfinite(log_price)
    want = np.where(known, 0.7 * (log_price - middle(log_price[known])), 0.0)
    assert np.array_equal(c.adjustments.view(np.int64), want.view(np.int64))
    assert (c.adjustments[-2:] == 0).all() if with_unknown else known.all()
