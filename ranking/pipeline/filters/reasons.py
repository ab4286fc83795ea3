"""The filters' shared step: candidates removed for a reason, the keep mask kept from the masks.

A filter used to find what it keeps by comparing its reason array (Python strings, one per
candidate) with ``""``: about as costly as the filter's own column reads on a search's ~640
candidates. :func:`drop` keeps the boolean mask as the reasons are written instead.
"""

from __future__ import annotations

import numpy as np


def drop(keep: np.ndarray, reason: np.ndarray, out: np.ndarray, why: str, first_wins: bool = False) -> None:
    """Write ``why`` as the reason of the candidates ``out`` and clear them in ``keep`` (in place).

    A later reason replaces an earlier one, unless ``first_wins``: then a candidate already
    removed keeps its reason.
    """
    if not out.any():
        return
    reason[out & keep if first_wins else out] = why
    keep &= ~out
