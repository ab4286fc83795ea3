"""A bundle that imitates the mall's logging policy: the closed loop's natural control.

The simulator's logging policy is a hand-written score (text match, popularity, discount,
big brand, taste, noise) over its own candidates; the service can only serve bundles.
So the control is learnt by behaviour cloning: the same features, the same LambdaRank,
but the label of each logged card is where the logging policy *put* it (slots 1-2 grade
3, 3-5 grade 2, 6-10 grade 1, the rest 0), not what the shopper did. Position debiasing
and randomised-slot validation are off (the labels are the positions). Its offline NDCG
against the oracle is close to the logged order's (``shelfrank evaluate`` shows both).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ranking.settings import Settings
from training.learning.dataset import RankingFrame

KIND = "logging-policy-clone"


def position_grades(frame: RankingFrame) -> np.ndarray:
    """Grade of each logged card from its slot: 3 for 1-2, 2 for 3-5, 1 for 6-10, else 0."""
    p = frame.position
    return np.select([p <= 2, p <= 5, p <= 10], [3, 2, 1], 0).astype(np.int8)


def train_logging_policy_bundle(
    data_dir: str | Path, models_dir: str | Path, settings: Settings, progress: bool = True
) -> Path:
    """Train and write the clone bundle; return its folder."""
    from training.learning.train import train_bundle

    cloned = settings.model_copy(deep=True)
    cloned.training.model = "lambdarank"  # grades are slots, not clicks and orders: no funnel
    cloned.training.position_debias = False
    cloned.training.validate_on_randomised = False
    cloned.training.label_gain = [0.0, 1.0, 3.0, 7.0]
    path, _ = train_bundle(
        data_dir, models_dir, cloned, progress=progress, relabel=position_grades, kind=KIND
    )
    return path
