"""The first ``k`` places of a stable ascending sort, without sorting every value.

``np.argsort(values, kind="stable")[:k]`` sorts all ``n`` values to keep ``k``: a shopper's first
homepage ranks ~1,200 rows of its recent leaves to list 60 (``recent_categories``). A partition
and a sort of the few at or below the ``k``-th value cost far less as the rows grow (241 us
against 1,421 at 20,000 rows, ``python -m bench.micro_costs``) but a little more at that size
(14.2-14.4 us against the whole sort's 12.9 with numpy 2.4), so up to :data:`WHOLE_SORT_MAX`
values the whole sort answers.
The places are the same: every value before the ``k``-th in the stable order is at or below the
``k``-th smallest value, and those are sorted stably among themselves in their original order
(ties by position, as the whole sort keeps them).
"""

from __future__ import annotations

import numpy as np

WHOLE_SORT_MAX = 2_048  # values a whole stable sort ranks faster than the partition (numpy 2.4)


def stable_top(values: np.ndarray, k: int) -> np.ndarray:
    """``np.argsort(values, kind="stable")[:k]`` of a 1-d array (int64 positions)."""
    values = np.asarray(values)
    n = len(values)
    if k <= 0:
        return np.zeros(0, np.int64)
    if k >= n or n <= WHOLE_SORT_MAX:
        return np.argsort(values, kind="stable")[:k]
    kth = np.partition(values, k - 1)[k - 1]
    if kth != kth:  # NaN at the k-th place (NaNs sort last): the whole sort says where they go
        return np.argsort(values, kind="stable")[:k]
    held = np.flatnonzero(values <= kth)  # ascending positions: ties stay in place order
    return held[np.argsort(values[held], kind="stable")[:k]]
