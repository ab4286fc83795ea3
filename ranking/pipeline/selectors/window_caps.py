"""Window caps: at most so many cards sharing a key (store, leaf category, brand, subsidy) in any
so many consecutive slots, and the in-order filler that keeps them.

A :class:`WindowCap` knows each candidate's key (-1: the cap does not count that card).
:func:`fill_in_order` fills the page's empty slots with the best remaining candidate (in score
order) that every cap allows; a card passed over for that reason and placed later says which
caps held it back. When no remaining candidate fits, the caps are relaxed one at a time in the
order given (the first one first), and the card placed says which cap gave way and why.

Speed: a page has 20-50 slots and the first fitting card is almost always among the first few
candidates, so the filler works on plain Python ints (:class:`PageCaps`: each cap's key per
candidate, read once per page, and the slots each key holds) instead of numpy calls per slot and
candidate; the latter cost about 1.8 ms of a homepage request, this about 0.2 ms, with the same
pages. A slot's blocked keys are noted as cards are placed, not counted around the slot
(:meth:`PageCaps.blocked`).
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.selectors.draft import PageDraft


@dataclass
class WindowCap:
    """At most ``most`` cards with one key in any ``window`` consecutive slots."""

    rule: str  # the rule name in ``explain``
    keys: np.ndarray  # per candidate row; -1: not counted
    most: int
    window: int
    held_why: Callable[[int], str]  # key -> why a card of it waited
    relaxed_why: str  # why a card that breaks the cap was placed anyway
    key_list: list[int] = field(init=False, repr=False)  # ``keys`` as Python ints (read per slot)

    def __post_init__(self) -> None:
        keys = np.asarray(self.keys)  # any integer type's tolist is the same Python ints (no int64 copy)
        self.key_list = (keys if keys.dtype.kind in "iu" else keys.astype(np.int64)).tolist()

    def blocked(self, slot_keys: list[int], p: int) -> set[int]:
        """Keys that may not take 0-based slot ``p`` (never -1, not counted): some window holding
        ``p`` is full of them (every counted key when the cap is 0). ``slot_keys`` is this cap's
        key of each slot's card (-1: empty or not counted); one sliding count over the at most
        ``2 x window`` slots around ``p``."""
        if self.most <= 0:
            return set(self.key_list) - {-1}
        w, most = self.window, self.most
        lo = max(0, p - w + 1)
        ks = slot_keys[lo:min(len(slot_keys), p + w)]
        counted = [k for k in ks if k >= 0]
        if len(counted) < most or (most > 1 and len(set(counted)) == len(counted)):
            return set()  # no key often enough around p (C-level checks: the loops below cost ~3 us)
        counts: dict[int, int] = {}
        for k in ks[:w]:
            if k >= 0:
                counts[k] = counts.get(k, 0) + 1
        out = {k for k, n in counts.items() if n >= most}
        if max(ks[p - lo + 1:], default=-1) < 0:
            return out  # nothing counted after p (a page filled from the top): later windows hold less
        for start in range(1, p - lo + 1):
            old = ks[start - 1]
            if old >= 0:
                counts[old] -= 1
            if start + w - 1 < len(ks):
                new = ks[start + w - 1]
                if new >= 0:
                    counts[new] = n = counts.get(new, 0) + 1
                    if n >= most:
                        out.add(new)
        return out

    def allows(self, page: PageDraft, rows: np.ndarray, p: int) -> np.ndarray:
        """Whether each candidate of ``rows`` may take 0-based slot ``p``."""
        keys = self.key_list
        blocked = self.blocked([keys[r] if r >= 0 else -1 for r in page.slots.tolist()], p)
        return np.array([keys[r] not in blocked for r in np.asarray(rows).tolist()], dtype=bool)


class PageCaps:
    """Caps over one page as plain ints: per cap, the slots holding each key, kept up to date by
    :meth:`put` (the one way cards are placed while it is in use). A card is tested with each
    blocking cap's :attr:`WindowCap.key_list` (no per-candidate tuple of keys: a page tests a few
    dozen of its 200-500 candidates, and zipping every candidate's keys cost ~30 us a page).

    :meth:`blocked` reads the keys :meth:`put` noted at the slot: placing a card blocks its key
    at the slots a window holding its new run of ``most`` slots also holds. That is exact whatever
    order the slots were filled in (cold start's and exploration's slots are placed before the
    spread fills), where :meth:`WindowCap.blocked` counted the ``2 x window`` slots around each slot
    for every cap (about 12 us a slot on a homepage)."""

    def __init__(self, page: PageDraft, caps: Sequence[WindowCap]) -> None:
        self._page = weakref.ref(page)  # weakly: the page's memo keeps this (:meth:`of`), so no cycle
        self.caps = list(caps)
        self.at: list[dict[int, list[int]]] = [{} for _ in self.caps]  # per cap: key -> its slots, ascending
        # per cap and slot: the keys some window holding that slot has full (:meth:`blocked`)
        self.full: list[list[set[int]]] = [[set() for _ in range(page.size)] for _ in self.caps]
        self.placed = page.slots.tolist()  # the page's slots as this knows them (:meth:`of` checks them)
        # what :meth:`_hold` reads per cap, unpacked once (it runs per cap for every card placed)
        self._holding = [(cap.key_list, at, full, cap.most, cap.window)
                         for cap, at, full in zip(self.caps, self.at, self.full, strict=True)]
        for p, r in enumerate(self.placed):
            if r >= 0:
                self._hold(p, r)

    @classmethod
    def of(cls, page: PageDraft, caps: Sequence[WindowCap]) -> PageCaps:
        """The ``PageCaps`` of these very ``caps`` the page's memo keeps, while the page's slots are
        still the ones it placed or was built from; else a new one, kept. The fold floor and the
        shelf spread fill one page under the same caps, one after the other: the spread goes on with
        the fold floor's instead of holding every placed slot again (a page is placed on one thread)."""
        kept = page.memo.get(cls)
        if (kept is not None and kept._page() is page and len(kept.caps) == len(caps)
                and all(a is b for a, b in zip(kept.caps, caps, strict=True))
                and kept.placed == page.slots.tolist()):
            return kept
        page.memo[cls] = made = cls(page, caps)
        return made

    @property
    def page(self) -> PageDraft:
        """The page these caps fill (alive while a selector fills it)."""
        page = self._page()
        assert page is not None, "PageCaps outlived its page"
        return page

    def _hold(self, p: int, row: int) -> None:
        """Note candidate ``row`` at slot ``p``: each cap's new runs of ``most`` consecutive slots
        of its key (the runs holding ``p``) that fit in ``window`` block that key at every slot a
        window holding the whole run also holds. Placing never unblocks a key, and a run broken up
        by a later slot still blocks what it did (its cards are still there), so the union over
        every run ever made is what some window holding each slot has full."""
        for keys, at, full, most, w in self._holding:
            k = keys[row]
            if k < 0:
                continue
            slots = at.get(k)
            if slots is None:  # the key's first slot
                at[k] = slots = [p]
                i = 0
            else:
                i = bisect_left(slots, p)
                slots.insert(i, p)
            if most <= 0 or len(slots) < most:
                continue
            for g in range(max(0, i - most + 1), min(i, len(slots) - most) + 1):
                first, last = slots[g], slots[g + most - 1]
                if last - first < w:  # blocked: q with max(last, q) - min(first, q) < w
                    for held in full[max(0, last - w + 1):first + w]:
                        held.add(k)

    def put(self, p: int, row: int) -> None:
        """Place candidate ``row`` at 0-based slot ``p``."""
        self.page.put(p, row)
        self.placed[p] = row
        self._hold(p, row)

    def blocked(self, p: int) -> list[set[int]]:
        """Per cap, the keys that may not take 0-based slot ``p`` (:meth:`WindowCap.blocked`'s sets):
        a key whose ``most`` consecutive slots and ``p`` span fewer than ``window`` slots. Copies
        (a card put later blocks more keys at ``p``), read from what :meth:`_hold` noted per slot:
        counting every crowded key's runs at each slot cost ~5 us a slot on a homepage (~80 us a page)."""
        return [set(keys) for keys in self.blocked_now(p)]

    def blocked_now(self, p: int) -> list[set[int]]:
        """:meth:`blocked` as it is now, not copied: the sets :meth:`put` adds to (read them before
        the next card is put; the filler copies only the few it keeps, a slot that passed cards over)."""
        return [set(cap.key_list) - {-1} if cap.most <= 0 else full[p]
                for cap, full in zip(self.caps, self.full, strict=True)]

    def keys(self, row: int) -> tuple[int, ...]:
        """Candidate ``row``'s key per cap."""
        return tuple(cap.key_list[row] for cap in self.caps)

    def _refusing(self, blocked: list[set[int]], first: int = 0) -> list[tuple[list[int], set[int]]]:
        """(key per candidate, blocked keys) of the caps from ``first`` on that block any key."""
        return [(self.caps[c].key_list, keys) for c, keys in enumerate(blocked) if c >= first and keys]

    def first_fitting(self, rows: list[int], p: int, blocked: list[set[int]] | None = None) -> int:
        """Index into ``rows`` of the first candidate every cap allows at slot ``p`` (-1: none);
        only the caps that block a key test a card (most cards passed over are refused by one cap:
        a homepage's subsidy share once half its slots are subsidy cards)."""
        refusing = self._refusing(self.blocked_now(p) if blocked is None else blocked)
        if len(refusing) == 1:
            (keys, refused), = refusing
            for j, r in enumerate(rows):
                if keys[r] not in refused:
                    return j
            return -1
        return _first_allowed(rows, refusing)

    def relaxing(self, rows: list[int], blocked: list[set[int]]) -> tuple[int, int]:
        """When no card fits: (index into ``rows`` of the first card that needs the fewest caps
        relaxed, first first; how many). With the first ``k`` caps relaxed, that is the first card
        no later cap refuses, for the least ``k`` that has one: tried ``k = 1, 2, ...`` in turn, each
        pass stopping at its first such card. On search pages (brand and store caps) the first card
        nearly always needs only the brand cap relaxed, so the pass stops there; scoring every card
        (about 60 left) cost ~60 us a relaxed slot, 3.5 slots a page."""
        for k in range(1, len(blocked) + 1):
            j = _first_allowed(rows, self._refusing(blocked, k))
            if j >= 0:
                return j, k
        return -1, len(blocked) + 1  # no rows


def _first_allowed(rows: list[int], refusing: list[tuple[list[int], set[int]]]) -> int:
    """Index into ``rows`` of the first card no cap of ``refusing`` (key per candidate, blocked
    keys) refuses; -1: none."""
    for j, r in enumerate(rows):
        for keys, refused in refusing:
            if keys[r] in refused:
                break
        else:
            return j
    return -1


def _held(keys: tuple[int, ...], passed: list[list[set[int]]]) -> set[int]:
    """The caps that refused a card (its key per cap: ``keys``) at the slots that passed it over
    (``passed``: each such slot's blocked keys per cap)."""
    return {c for blocked in passed for c, k in enumerate(keys) if k in blocked[c]}


HEAD_PER_SLOT = 8  # cards made plain ints per open slot before the rest are (:func:`fill_in_order`)


def _joined(ranked: list[int], rows: list[int], more: np.ndarray) -> tuple[list[int], list[int], np.ndarray]:
    """The cards ``more`` (the rest, in score order) joined to ``ranked`` and ``rows``."""
    rest = more.tolist()
    return ranked + rest, rows + rest, more[:0]


def fill_in_order(page: PageDraft, cands: CandidateSet, caps: Sequence[WindowCap],
                  noting: bool = True) -> None:
    """Fill every empty slot in score order under ``caps``, relaxing them in order when nothing
    left fits (module docstring); with ``noting`` False the same cards in the same slots, and no
    card says why (a page not explained: no response field reads these notes, and a first-time
    query's page passes twice as many cards over, each noted with a formatted reason).

    A card passed over at a slot is one ranked above the card placed there (``rows`` keeps score
    order), so each slot that passed cards over keeps (its card's rank, its blocked keys), and a
    card placed later looks up the slots that passed it over by rank: one entry a slot instead
    of one per card passed over (about 10 a homepage slot once its subsidy share is full)."""
    left = page.order[~page.used[page.order]]  # the cards left, in score order
    slots = page.slots.tolist()
    # as plain ints, the first few per open slot only (a homepage has ~400 left for ~13 slots, ~10 us
    # of made ints): the rest join when none of those fits a slot (or none is left)
    head = HEAD_PER_SLOT * slots.count(-1)  # -1: an empty slot
    ranked, more = left[:head].tolist(), left[head:]
    rows = list(ranked)  # those not placed yet
    state = PageCaps.of(page, caps)  # the fold floor's, when it filled under the same caps
    passing: list[tuple[int, list[set[int]]]] = []  # per slot that passed cards over: (rank placed, blocked)
    for p, slot in enumerate(slots):
        if slot >= 0:
            continue
        if not rows and len(more):
            ranked, rows, more = _joined(ranked, rows, more)
        if not rows:
            break
        if not caps:
            page.put(p, rows.pop(0))
            continue
        blocked = state.blocked_now(p)  # read before this slot's card is put
        i, relaxed = state.first_fitting(rows, p, blocked), 0
        if i < 0 and len(more):  # none of the first fits: the first that does among them all
            ranked, rows, more = _joined(ranked, rows, more)
            i = state.first_fitting(rows, p, blocked)
        if i < 0:
            i, relaxed = state.relaxing(rows, blocked)
        row = rows.pop(i)
        if not noting:  # the notes alone read what follows: the rows passed over, the caps relaxed
            state.put(p, row)
            continue
        passed: list[list[set[int]]] = []
        if passing or i:  # else no card was ever passed over: its rank is not needed
            rank = ranked.index(row, i)  # rows lost only cards placed, fewer than the slots
            passed = [b for placed_rank, b in passing if placed_rank > rank]
            if i:  # as they are now: later cards block more keys at this slot
                passing.append((rank, [set(b) for b in blocked]))
        if not passed and not relaxed:  # nothing held this card back nor gave way: no note
            state.put(p, row)
            continue
        keys = state.keys(row)
        broken = [c for c in range(relaxed) if keys[c] in blocked[c]]
        state.put(p, row)
        _note(cands, caps, row, p, sorted(_held(keys, passed)), broken)


def _note(cands: CandidateSet, caps: Sequence[WindowCap], row: int, p: int, held: list[int],
          broken: list[int]) -> None:
    """The notes of the card ``row`` placed at 0-based slot ``p``: the caps that held it back
    (``held``, but for those that gave way for it), then the caps relaxed for it (``broken``)."""
    for c in held:
        if c not in broken:
            cands.rule_notes[row].append({"rule": caps[c].rule, "position": p + 1,
                                          "why": caps[c].held_why(int(caps[c].keys[row]))})
    for c in broken:
        cands.rule_notes[row].append({"rule": caps[c].rule, "position": p + 1,
                                      "why": caps[c].relaxed_why})
