"""Which of some ids are among a few others: ``np.isin`` for the per-request paths.

A ranking request asks many small membership questions (is each of 500 candidates among
the shopper's 20 excluded cards, is each of 15 frozen recent items among 20 live ones).
``np.isin`` sorts or builds a table whatever the sizes, some 40-100 microseconds even for
a handful of ids; comparing every value with each of a few members is a few microseconds.
:func:`isin_few` does that when the members are few and is ``np.isin`` otherwise, with
the same answer either way (tests/test_membership.py); more members are looked up sorted
(:func:`ranking.sorted_sets.isin_sorted`).
"""

from __future__ import annotations

import numpy as np

from ranking.sorted_sets import isin_sorted

FEW = 32  # up to this many members, compare each value with every member


def isin_few(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``np.isin(values, members)`` for 1-d arrays, fast when ``members`` are few."""
    values, members = np.asarray(values), np.asarray(members)
    if len(members) > FEW or values.ndim != 1 or members.ndim != 1:
        return isin_sorted(values, members)  # np.isin's sorts: ~45 us for 190 ids among 40
    if not len(members):
        return np.zeros(len(values), bool)
    return (values[:, None] == members[None, :]).any(axis=1)
