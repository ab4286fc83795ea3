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

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
    codes: np.ndarray = field(init=False)  # keys as 0..n-1, n for not counted (a lookup per slot)
    uncounted: int = field(init=False)  # n

    def __post_init__(self) -> None:
        counted = self.keys >= 0
        uniq, inverse = np.unique(self.keys[counted], return_inverse=True)
        self.uncounted = len(uniq)
        self.codes = np.full(len(self.keys), self.uncounted, dtype=np.int64)
        self.codes[counted] = inverse

    def blocked(self, page: PageDraft, p: int) -> set[int]:
        """Codes that may not take 0-based slot ``p``: some window holding ``p`` is full of them
        (one pass of a sliding count over the at most ``2 x window`` slots around ``p``)."""
        lo, hi, w = max(0, p - self.window + 1), min(page.size, p + self.window), self.window
        ks = [int(self.codes[q]) if q >= 0 else self.uncounted for q in page.slots[lo:hi].tolist()]
        counts = Counter(ks[:w])
        out = {k for k, n in counts.items() if n >= self.most}
        for start in range(1, p - lo + 1):
            counts[ks[start - 1]] -= 1
            if start + w - 1 < len(ks):
                new = ks[start + w - 1]
                counts[new] += 1
                if counts[new] >= self.most:
                    out.add(new)
        out.discard(self.uncounted)
        return out

    def bad(self, page: PageDraft, p: int) -> np.ndarray:
        """Per code (and one last for not counted), whether it may not take 0-based slot ``p``.
        While no slot after ``p`` within the window is placed (a page filled from the top), only
        the window ending at ``p`` can be full: one count of its cards."""
        if self.most == 0:
            bad = np.ones(self.uncounted + 1, dtype=bool)
        elif (page.slots[p + 1: p + self.window] < 0).all():
            before = page.slots[max(0, p - self.window + 1): p]
            counts = np.bincount(self.codes[before[before >= 0]], minlength=self.uncounted + 1)
            bad = counts >= self.most
        else:
            bad = np.zeros(self.uncounted + 1, dtype=bool)
            bad[list(self.blocked(page, p))] = True
        bad[-1] = False
        return bad

    def allows(self, page: PageDraft, rows: np.ndarray, p: int) -> np.ndarray:
        """Whether each candidate of ``rows`` may take 0-based slot ``p``."""
        return ~self.bad(page, p)[self.codes[rows]]


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


def _choose(page: PageDraft, rows: np.ndarray, p: int, caps: Sequence[WindowCap]
            ) -> tuple[int, int, np.ndarray]:
    """The index into ``rows`` of the card for slot ``p``, how many caps (first first) gave way
    for it, and which caps allow each of ``rows[:index + 1]`` (caps x cards)."""
    bad = [cap.bad(page, p) for cap in caps]
    for part in (rows[:HEAD], rows):
        allowed = np.stack([~b[cap.codes[part]] for b, cap in zip(bad, caps, strict=True)])
        ok = allowed.all(axis=0)
        if ok.any() or len(part) == len(rows):
            break
    relaxed = 0
    while not ok.any():
        relaxed += 1
        ok = allowed[relaxed:].all(axis=0)
    i = int(np.argmax(ok))
    return i, relaxed, allowed[:, : i + 1]


def fill_in_order(page: PageDraft, cands: CandidateSet, caps: Sequence[WindowCap]) -> None:
    """Fill every empty slot in score order under ``caps``, relaxing them in order when nothing
    left fits (module docstring)."""
    held = np.zeros((len(page.stores), len(caps)), dtype=bool)  # card x cap that passed it over
    for p in range(page.size):
        if page.slots[p] >= 0:
            continue
        rows = page.order[~page.used[page.order]]
        if not len(rows):
            break
        if not caps:
            page.put(p, int(rows[0]))
            continue
        i, relaxed, allowed = _choose(page, rows, p, caps)
        held[rows[:i]] |= ~allowed[:, :i].T
        row = int(rows[i])
        broken = [c for c in range(relaxed) if not allowed[c, i]]
        page.put(p, row)
        for c in np.flatnonzero(held[row]).tolist():
            if c not in broken:
                cands.rule_notes[row].append({"rule": caps[c].rule, "position": p + 1,
                                              "why": caps[c].held_why(int(caps[c].keys[row]))})
        for c in broken:
            cands.rule_notes[row].append({"rule": caps[c].rule, "position": p + 1,
                                          "why": caps[c].relaxed_why})
