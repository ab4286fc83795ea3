"""Ranking metrics (training.evaluation.metrics) agree with trec_eval (pytrec_eval) and keep
their conventions."""

from __future__ import annotations

import numpy as np
import pytest
import pytrec_eval

from training.evaluation.metrics import (
    average_precision,
    defined_mean,
    first_by_group,
    group_ids,
    mean_by,
    mean_ndcg_at_k,
    mrr,
    ndcg_at_k,
    ranking_metrics,
)


def random_requests(seed: int, n_groups: int = 300, max_size: int = 30):
    """Random groups of 1..max_size rows, interleaved (not contiguous), graded 0-3, continuous scores."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_size + 1, size=n_groups)
    group = np.repeat(rng.permutation(10 * n_groups)[:n_groups] + 5, sizes)
    n = len(group)
    grade = np.where(rng.random(n) < 0.6, 0, rng.integers(1, 4, size=n))
    score = rng.normal(size=n)
    order = rng.permutation(n)
    return group[order], grade[order].astype(np.int64), score[order]


def trec_eval(group, relevance, score, measures):
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for row, (g, rel, s) in enumerate(zip(group, relevance, score, strict=True)):
        qrels.setdefault(str(g), {})[f"d{row}"] = int(rel)
        run.setdefault(str(g), {})[f"d{row}"] = float(s)
    return pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ndcg_mrr_and_map_agree_with_trec_eval_on_random_interleaved_requests(seed):
    group, grade, score = random_requests(seed)
    ref = trec_eval(group, grade, score, {"ndcg_cut.5,10,20", "recip_rank", "map"})
    ids = group_ids(group)
    defined = np.array([grade[group == g].max() > 0 for g in ids])
    assert 0 < defined.sum() < len(ids)  # both kinds of request are exercised
    for k in (5, 10, 20):
        ours = ndcg_at_k(group, grade, score, k)
        theirs = np.array([ref[str(g)][f"ndcg_cut_{k}"] for g in ids])
        np.testing.assert_allclose(ours[defined], theirs[defined], rtol=0, atol=1e-12)
        assert np.isnan(ours[~defined]).all()
    np.testing.assert_allclose(mrr(group, grade, score)[defined],
                               [ref[str(g)]["recip_rank"] for g in ids[defined]], atol=1e-12)
    np.testing.assert_allclose(average_precision(group, grade, score)[defined],
                               [ref[str(g)]["map"] for g in ids[defined]], atol=1e-12)


def test_exponential_gain_equals_trec_eval_on_gains_two_to_the_grade_minus_one():
    group, grade, score = random_requests(11)
    ref = trec_eval(group, 2**grade - 1, score, {"ndcg_cut.10"})
    ids = group_ids(group)
    ours = ndcg_at_k(group, grade, score, 10, exponential=True)
    defined = ~np.isnan(ours)
    np.testing.assert_allclose(ours[defined], [ref[str(g)]["ndcg_cut_10"] for g in ids[defined]],
                               atol=1e-12)
    # linear and exponential differ once a request has two different positive grades
    assert not np.allclose(ours[defined], ndcg_at_k(group, grade, score, 10)[defined])


def test_ndcg_of_float_gains_matches_a_hand_computed_example():
    # one request, oracle purchase probabilities as linear gains
    gain = np.array([0.1, 0.0, 0.5, 0.2])
    score = np.array([3.0, 2.0, 1.0, 0.0])  # ranks rows 0,1,2,3
    dcg = 0.1 / np.log2(2) + 0.0 + 0.5 / np.log2(4) + 0.2 / np.log2(5)
    idcg = 0.5 / np.log2(2) + 0.2 / np.log2(3) + 0.1 / np.log2(4)
    assert ndcg_at_k(np.zeros(4), gain, score, 10)[0] == pytest.approx(dcg / idcg, abs=1e-15)
    dcg2 = 0.1 + 0.0
    idcg2 = 0.5 + 0.2 / np.log2(3)
    assert ndcg_at_k(np.zeros(4), gain, score, 2)[0] == pytest.approx(dcg2 / idcg2, abs=1e-15)


def test_ties_in_score_are_broken_by_row_order():
    group = np.array([1, 1, 1])
    score = np.zeros(3)
    first_relevant = np.array([1.0, 0.0, 0.0])
    last_relevant = np.array([0.0, 0.0, 1.0])
    assert ndcg_at_k(group, first_relevant, score, 3)[0] == pytest.approx(1.0)
    assert ndcg_at_k(group, last_relevant, score, 3)[0] == pytest.approx(0.5)
    assert mrr(group, last_relevant, score)[0] == pytest.approx(1 / 3)


def test_requests_without_positive_gain_are_nan_and_skipped_by_the_means():
    group = np.array([1, 1, 2, 2])
    gain = np.array([0.0, 0.0, 0.0, 1.0])
    score = np.array([1.0, 0.0, 1.0, 0.0])
    values = ranking_metrics(group, gain, score, cutoffs=(10,))
    for name in ("ndcg@10", "mrr", "map"):
        assert np.isnan(values[name][0])
        assert values[name][1] == pytest.approx({"ndcg@10": 1 / np.log2(3), "mrr": 0.5, "map": 0.5}[name])
        assert defined_mean(values[name]) == pytest.approx(values[name][1])
    assert np.isnan(defined_mean(np.array([np.nan])))


def test_group_order_does_not_change_the_per_group_values():
    group, grade, score = random_requests(5)
    contiguous = np.argsort(group, kind="stable")
    reversed_groups = contiguous[::-1]
    base = ndcg_at_k(group[contiguous], grade[contiguous], score[contiguous], 10)
    np.testing.assert_array_equal(ndcg_at_k(group, grade, score, 10), base)
    np.testing.assert_array_equal(
        ndcg_at_k(group[reversed_groups], grade[reversed_groups], score[reversed_groups], 10), base
    )


def test_a_very_uneven_request_takes_the_sort_path_and_agrees():
    group, grade, score = random_requests(9, n_groups=200, max_size=20)
    rng = np.random.default_rng(0)
    big = 20_000  # one huge request makes the padded matrix too large
    group = np.concatenate([group, np.full(big, -1)])
    grade = np.concatenate([grade, rng.integers(0, 2, size=big)])
    score = np.concatenate([score, rng.normal(size=big)])
    ids = group_ids(group)
    ours = ranking_metrics(group, grade, score, cutoffs=(10,))
    ref = trec_eval(group, grade, score, {"ndcg_cut.10", "recip_rank", "map"})
    defined = ~np.isnan(ours["ndcg@10"])
    for name, measure in (("ndcg@10", "ndcg_cut_10"), ("mrr", "recip_rank"), ("map", "map")):
        np.testing.assert_allclose(ours[name][defined], [ref[str(g)][measure] for g in ids[defined]],
                                   atol=1e-12)


def test_cutoffs_on_mrr_and_average_precision_follow_trec_eval_map_cut():
    group = np.zeros(6, dtype=int)
    gain = np.array([0, 0, 0, 1, 0, 1.0])
    score = -np.arange(6.0)
    assert mrr(group, gain, score, k=3)[0] == 0.0
    assert mrr(group, gain, score, k=4)[0] == pytest.approx(0.25)
    assert average_precision(group, gain, score, k=4)[0] == pytest.approx((1 / 4) / 2)
    assert average_precision(group, gain, score)[0] == pytest.approx((1 / 4 + 2 / 6) / 2)


def test_mean_by_averages_per_key_skipping_undefined_requests():
    group = np.array([3, 3, 1, 1, 2, 2])
    surface = np.array(["search", "search", "homepage", "homepage", "search", "search"])
    keys = first_by_group(group, surface)
    assert list(keys) == ["homepage", "search", "search"]  # groups 1, 2, 3
    means = mean_by(np.array([0.5, np.nan, 0.25]), keys)
    assert means == {"homepage": 0.5, "search": 0.25}


def test_bad_inputs_are_refused_with_clear_errors():
    with pytest.raises(ValueError, match="NaN"):
        ndcg_at_k([1, 1], [1.0, 0.0], [np.nan, 1.0], 5)
    with pytest.raises(ValueError, match="one length"):
        ndcg_at_k([1, 1], [1.0], [0.0, 1.0], 5)
    with pytest.raises(ValueError, match="positive integer"):
        ndcg_at_k([1, 1], [1.0, 0.0], [0.0, 1.0], 0)
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_at_k([1, 1], [-1.0, 0.0], [0.0, 1.0], 5)
    with pytest.raises(ValueError, match="no rows"):
        mrr([], [], [])


def test_mean_ndcg_skips_or_counts_groups_without_gain():
    group = np.array([1, 1, 2, 2])
    gain = np.array([0.0, 1.0, 0.0, 0.0])  # group 2 has no positive gain: no defined NDCG
    score = np.array([1.0, 0.0, 1.0, 0.0])  # group 1 ranks its relevant row second
    first = 1 / np.log2(3)
    assert mean_ndcg_at_k(group, gain, score, 10) == pytest.approx(first)
    assert mean_ndcg_at_k(group, gain, score, 10, undefined=1.0) == pytest.approx((first + 1) / 2)
