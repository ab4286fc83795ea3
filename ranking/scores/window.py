"""The scoring window and recency weights.

Scores as of a moment ``T`` count only events with timestamp ``t < T`` and
``t >= T - window_days``; each counts with weight ``w = 0.5 ** ((T - t) / half_life)``,
so an event a half-life old counts half as much as one today. Nothing at or after ``T``
exists yet: a shipment delivered after ``T`` is still in transit, a review written after
``T`` has not been written.
"""

from __future__ import annotations

import numpy as np

DAY_MS = 86_400_000


def in_window(ts_ms: np.ndarray, as_of_ms: int, window_days: int) -> np.ndarray:
    """Mask of events inside ``[as_of - window, as_of)``."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    return (ts >= 0) & (ts < as_of_ms) & (ts >= as_of_ms - window_days * DAY_MS)


def recency_weight(ts_ms: np.ndarray, as_of_ms: int, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age_days / half_life_days)`` (1 for an event just before ``as_of``)."""
    age_days = (as_of_ms - np.asarray(ts_ms, dtype=np.float64)) / DAY_MS
    return np.power(0.5, np.maximum(age_days, 0.0) / half_life_days)
