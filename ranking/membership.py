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

from ranking.sorted_sets import INTEGER, isin_sorted

FEW = 32  # up to this many members, compare each value with every member (or search them, below)
COMPARED = 4  # up to this many members, one comparison of all the values per member
SEARCHED = 64  # from this many integer values, a binary search among the members sorted


def isin_few(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``np.isin(values, members)`` for 1-d arrays, fast when ``members`` are few: a values-by-
    members broadcast for fewer than :data:`SEARCHED` values (or not integers); for more, one
    ``==`` per member up to :data:`COMPARED` of them, else a binary search among them sorted
    (the broadcast's ``any`` over short rows cost 15-50 us for 500 candidates and 4-32 members,
    these 6-17)."""
    values, members = np.asarray(values), np.asarray(members)
    if len(members) > FEW or values.ndim != 1 or members.ndim != 1:
        return isin_sorted(values, members)  # np.isin's sorts: ~45 us for 190 ids among 40
    if len(values) < SEARCHED or np.result_type(values, members).kind not in INTEGER:
        return (values[:, None] == members[None, :]).any(axis=1)
    if len(members) <= COMPARED:
        hit = np.zeros(len(values), bool)
        for member in members:  # numpy scalars: the broadcast's promotion
            hit |= values == member
        return hit
    return isin_sorted(values, members)
