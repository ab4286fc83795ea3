"""Thompson sampling over a pool of new products, with the placement's propensity.

One draw of every pool member's order-rate posterior picks the member with the highest
sampled rate. The propensity of that pick (the probability this policy places each member in
this slot) is estimated by Monte Carlo from ``draws`` draws of the same posteriors, the placed
draw being the first of them: each member's share of wins, so the propensities over the pool
sum to exactly 1 and the placed member's is at least ``1 / draws``. Every draw comes from the
request's random stream (seeded by the request), so a page is the same for the same seed.
"""

from __future__ import annotations

import numpy as np


def thompson_draw(alpha: np.ndarray, beta: np.ndarray, rng: np.random.Generator,
                  draws: int) -> tuple[int, np.ndarray]:
    """(index of the member placed, every member's propensity) for Beta(alpha, beta) posteriors."""
    alpha, beta = np.asarray(alpha, np.float64), np.asarray(beta, np.float64)
    if len(alpha) == 1:
        return 0, np.ones(1)
    samples = rng.beta(alpha[None, :], beta[None, :], size=(draws, len(alpha)))
    winners = np.argmax(samples, axis=1)
    return int(winners[0]), np.bincount(winners, minlength=len(alpha)) / draws
