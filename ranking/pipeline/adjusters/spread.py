"""The unit of the adjusters' moves: the spread of the candidates' model scores.

Four adjusters of a page read the spread of the same scores array (demotion, traffic policy,
theme boost, session intent), so each request thread keeps the last one it computed, by the
array's identity, through a weak reference: a page's scores are assigned once by the model and
never written (rules move ``adjustments``), and a weak reference neither holds a request's array
nor can name a newer one at a reused address. ``np.std`` of a homepage's ~430 scores cost about
15 us a call (over 50 us with the page's cold caches: its Python-level checks and a dozen ufunc
calls), so a float64 array's is computed by :func:`std_float64`, np.std's own operations in
its order without the checks.
"""

from __future__ import annotations

import math
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


def std_float64(values: np.ndarray) -> float:
    """``float(np.std(values))`` of a 1-D float64 array, to the bit: numpy's ``_var`` computes the
    same pairwise sum (``np.add.reduce``), the mean as that sum over the count, each deviation
    squared in place, their pairwise sum over the count and its square root (both IEEE divisions
    and the square root correctly rounded, so Python's and numpy's agree)."""
    n = len(values)
    deviations = np.subtract(values, np.add.reduce(values) / n)
    np.square(deviations, out=deviations)
    return math.sqrt(np.add.reduce(deviations) / n)


def _spread(scores: np.ndarray) -> float:
    if scores.__class__ is np.ndarray and scores.dtype == np.float64 and scores.ndim == 1 and len(scores):
        sd = std_float64(scores)
    else:  # another dtype accumulates in its own (float32: float32 sums): numpy's own
        sd = float(np.std(scores))
    return sd if sd > 1e-12 else 1.0

