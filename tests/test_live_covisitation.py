"""Co-visitation learns from sessions, keeps K neighbours per item, and lets old pairs fade."""

from __future__ import annotations

import numpy as np

from ranking.live.covisitation import CoVisitation


def test_covisitation_learns_pairs_and_keeps_the_strongest_k() -> None:
    cv = CoVisitation(neighbours=2, half_life_seconds=3600, backward_weight=0.5)
    cv.reserve(5)
    cv.learn(np.array([0, 0, 0]), np.array([1, 1, 2]), np.ones(3, np.float32), times=np.zeros(3))
    n, w = cv.neighbours(np.array([0, 1]), now=0)
    assert n[0].tolist() == [1, 2] and w[0].tolist() == [2.0, 1.0]
    assert n[1].tolist() == [0, -1] and w[1, 0] == 1.0  # two backward visits at half weight
    cv.learn(np.array([0, 0, 0]), np.array([3, 3, 3]), np.ones(3, np.float32), times=np.zeros(3))
    n, _ = cv.neighbours(np.array([0]), now=0)
    assert n[0].tolist() == [3, 1]  # 2 was the weakest: only K=2 are kept
    assert (cv.neighbour >= -1).all() and cv.neighbour.shape[1] == 2


def test_old_pairs_fade_and_a_new_pair_takes_their_slot() -> None:
    cv = CoVisitation(neighbours=1, half_life_seconds=3600, backward_weight=0.0)
    cv.reserve(3)
    cv.learn(np.array([0]), np.array([1]), np.ones(1, np.float32), times=np.zeros(1))
    _, w = cv.neighbours(np.array([0]), now=3600)
    assert np.isclose(w[0, 0], 0.5)
    cv.learn(np.array([0]), np.array([2]), np.ones(1, np.float32), times=np.full(1, 3600))
    n, _ = cv.neighbours(np.array([0]), now=3600)
    assert n[0].tolist() == [2]
