"""A cold-start slot's propensity: exact quadrature vs the former Monte Carlo, time per slot.

``python -m bench.cold_start_propensity [--pool 30] [--calls 1000]`` times
:func:`ranking.cold_start.bandit.win_probabilities` (the default grid and 512 points) against
the estimate it replaced (500 x pool Beta draws, each member's share of wins) on one pool of
posteriors like a fresh leaf's (alpha 1-10, beta 150-400), and prints the mean ms per call and
the largest difference between the two.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ranking.cold_start.bandit import win_probabilities
from ranking.settings import ColdStartSettings


def monte_carlo(alpha: np.ndarray, beta: np.ndarray, rng: np.random.Generator,
                draws: int = 500) -> np.ndarray:
    samples = rng.beta(alpha[None, :], beta[None, :], size=(draws, len(alpha)))
    return np.bincount(samples.argmax(axis=1), minlength=len(alpha)) / draws


def _ms(fn, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return round((time.perf_counter() - started) / calls * 1e3, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=30)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    alpha, beta = rng.uniform(1, 10, args.pool), rng.uniform(150, 400, args.pool)
    grid = ColdStartSettings().propensity_grid
    out = {"pool": args.pool, "grid": grid,
           "quadrature_ms": _ms(lambda: win_probabilities(alpha, beta, grid), args.calls),
           "quadrature_512_ms": _ms(lambda: win_probabilities(alpha, beta, 512), args.calls),
           "monte_carlo_500_ms": _ms(lambda: monte_carlo(alpha, beta, rng), args.calls),
           "max_abs_diff_vs_monte_carlo_400k": round(float(np.abs(
               win_probabilities(alpha, beta, grid) - monte_carlo(alpha, beta, rng, 400_000)).max()), 5)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
