"""The unit of the adjusters' moves: the spread of the candidates' model scores.

Four adjusters of a page read the spread of the same scores array (demotion, traffic policy,
theme boost, session intent), so each request thread keeps the last one it computed, by the
array's identity, through a weak reference: a page's scores are assigned once by the model and
never written (rules move ``adjustments``), and a weak reference neither holds a request's array
nor can name a newer one at a reused address. ``np.std`` of a homepage's ~430 scores cost about
15 us a call.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

_LAST = threading.local()  # .held: (weak reference to a scores array, its spread)


def score_spread(scores: np.ndarray) -> float:
    """Standard deviation of the candidates' model scores (1.0 when undefined or zero)."""
    if len(scores) < 2:
        return 1.0
    if not isinstance(scores, np.ndarray):
        return _spread(scores)
    held = getattr(_LAST, "held", None)
    if held is not None and held[0]() is scores:
        return held[1]
    spread = _spread(scores)
    _LAST.held = (weakref.ref(scores), spread)
    return spread


def _spread(scores: np.ndarray) -> float:
    sd = float(np.std(scores))
    return sd if sd > 1e-12 else 1.0

