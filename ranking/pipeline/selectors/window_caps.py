"""Window caps: at most so many cards sharing a key (store, leaf category, brand, subsidy) in any
so many consecutive slots, and the in-order filler that keeps them.

A :class:`WindowCap` knows each candidate's key (-1: the cap does not count that card) and
answers, vectorised over candidate rows, which may take a slot. :func:`fill_in_order` fills the
page's empty slots with the best remaining candidate (in score order) that every cap allows; a
card passed over for that reason and placed later says which caps held it back. When no
remaining candidate fits, the caps are relaxed one at a time in the order given (the first
one first), and the card placed says which cap gave way and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.selectors.draft import PageDraft

HEAD = 64  # candidates checked before the whole remaining list (most slots are filled from the top)


@dataclass
class WindowCap:
    """At most ``most`` cards with one key in any ``window`` consecutive slots."""

    rule: str  # the rule name in ``explain``
    keys: np.ndarray  # per candidate row; -1: not counted
    most: int
    window: int
    held_why: Callable[[int], str]  # key -> why a card of it waited
    relaxed_why: str  # why a card that breaks the cap was placed anyway

    def blocked(self, page: PageDraft, p: int) -> np.ndarray:
        """Keys that may not take 0-based slot ``p``: some window holding ``p`` is full of them."""
        lo, hi = max(0, p - self.window + 1), min(page.size, p + self.window)
        seg = page.slots[lo:hi]
        keys = np.where(seg >= 0, self.keys[np.maximum(seg, 0)], -1)
        present = np.unique(keys[keys >= 0])
        if not len(present):
            return present
        hits = np.zeros((len(present), len(keys) + 1), dtype=np.int64)
        np.cumsum(keys[None, :] == present[:, None], axis=1, out=hits[:, 1:])
        starts = np.arange(lo, p + 1) - lo
        ends = np.minimum(starts + self.window, hi - lo)
        return present[((hits[:, ends] - hits[:, starts]) >= self.most).any(axis=1)]

    def allows(self, page: PageDraft, rows: np.ndarray, p: int) -> np.ndarray:
        """Whether each candidate of ``rows`` may take 0-based slot ``p``."""
        keys = self.keys[rows]
        if self.most == 0:
            return keys < 0
        return (keys < 0) | ~np.isin(keys, self.blocked(page, p))


def first_fitting(page: PageDraft, rows: np.ndarray, p: int, caps: Sequence[WindowCap]) -> int:
    """Index into ``rows`` of the first candidate every cap allows at slot ``p`` (-1: none)."""
    for part in (rows[:HEAD], rows):
        ok = np.ones(len(part), dtype=bool)
        for cap in caps:
            ok &= cap.allows(page, part, p)
        if ok.any():
            return int(np.argmax(ok))
        if len(part) == len(rows):
            break
    return -1


def fill_in_order(page: PageDraft, cands: CandidateSet, caps: Sequence[WindowCap]) -> None:
    """Fill every empty slot in score order under ``caps``, relaxing them in order when nothing
    left fits (module docstring)."""
    held: dict[int, set[int]] = {}  # row -> caps (indexes) that passed it over
    for p in range(page.size):
        if page.slots[p] >= 0:
            continue
        rows = page.order[~page.used[page.order]]
        if not len(rows):
            break
        relaxed, i = 0, first_fitting(page, rows, p, caps)
        while i < 0:
            relaxed += 1
            i = first_fitting(page, rows, p, caps[relaxed:])
        passed = rows[:i]
        for c, cap in enumerate(caps):
            for r in passed[~cap.allows(page, passed, p)].tolist():
                held.setdefault(r, set()).add(c)
        row = int(rows[i])
        broken = [c for c in range(relaxed) if not caps[c].allows(page, rows[i:i + 1], p)[0]]
        page.put(p, row)
        for c in sorted(held.pop(row, set()) - set(broken)):
            cands.rule_notes[row].append({"rule": caps[c].rule, "position": p + 1,
                                          "why": caps[c].held_why(int(caps[c].keys[row]))})
        for c in broken:
            cands.rule_notes[row].append({"rule": caps[c].rule, "position": p + 1,
                                          "why": caps[c].relaxed_why})
