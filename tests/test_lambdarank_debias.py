"""Position-aware LambdaRank (training.learning.lambdarank, position_debias=True) ranks by relevance
better than plain LambdaRank when the clicks it learns from are biased by the logged slot."""

from __future__ import annotations

import numpy as np

from training.evaluation.metrics import defined_mean, ndcg_at_k
from training.learning.lambdarank import RankingData, predict, train_lambdarank

CARDS = 20
PARAMS = {"num_leaves": 15, "learning_rate": 0.1, "min_data_in_leaf": 50, "num_threads": 1,
          "seed": 1, "deterministic": True}


def biased_log(seed: int, requests: int):
    """Cards with features x0..x3: relevance depends on x0, x1; the logging policy ranks
    mostly by x2 (irrelevant, like raw popularity); clicks = examined (slot^-1) x relevant."""
    rng = np.random.default_rng(seed)
    n = requests * CARDS
    x = rng.normal(size=(n, 4)).astype(np.float32)
    relevance = 1 / (1 + np.exp(-(1.5 * x[:, 0] + 1.0 * x[:, 1] - 1.5)))
    policy = 2.0 * x[:, 2] + 0.5 * x[:, 0] + rng.normal(0, 0.5, n)
    request = np.repeat(np.arange(requests), CARDS)
    order = np.lexsort((-policy, request))
    slot = np.empty(n, dtype=np.int32)
    slot[order] = np.tile(np.arange(CARDS), requests)
    clicked = (rng.random(n) < (slot + 1.0) ** -1.0 * relevance).astype(np.int32)
    data = RankingData(x, clicked, np.full(requests, CARDS), position=slot,
                       feature_names=["x0_relevant", "x1_relevant", "x2_policy", "x3_noise"])
    return data, relevance, request


def test_position_debias_recovers_the_relevance_ranking_better_than_plain_lambdarank():
    train, _, _ = biased_log(10, 2000)
    valid, _, _ = biased_log(20, 500)
    test, relevance, request = biased_log(30, 1000)
    ndcg, reliance = {}, {}
    for debias in (False, True):
        booster = train_lambdarank(train, valid, PARAMS, num_boost_round=200, early_stopping_rounds=20,
                                   position_debias=debias, progress=False)
        ndcg[debias] = defined_mean(ndcg_at_k(request, relevance, predict(booster, test.features), 10))
        gain = booster.feature_importance("gain")
        reliance[debias] = gain[2] / gain.sum()
    # measured: 0.878 plain vs 0.926 position-aware (oracle 1.0, logging policy ~0.58)
    assert ndcg[True] > ndcg[False] + 0.02, ndcg
    # the plain model credits the policy's feature for the slot's clicks; the debiased one less
    assert reliance[True] < reliance[False], reliance
