"""The unit of the adjusters' moves: the spread of the candidates' model scores."""

from __future__ import annotations

import numpy as np


def score_spread(scores: np.ndarray) -> float:
    """Standard deviation of the candidates' model scores (1.0 when undefined or zero)."""
    if len(scores) < 2:
        return 1.0
    sd = float(np.std(scores))
    return sd if sd > 1e-12 else 1.0
