"""A candidate set's rule notes: each candidate's list of notes, made when something asks for it.

``CandidateSet.rule_notes[i]`` is candidate ``i``'s list of notes (dicts), and the adjusters and
selectors append to it (``cands.rule_notes[i].append(note)``). Most candidates never get a note:
a search recalls about 640 candidates, most are filtered out, and only a few dozen of the rest
are noted. :class:`RuleNotes` reads like that list of lists, but holds only the lists asked for
(by index, iteration or slice), so a set of any size starts at no cost and a ``take`` of it
carries only the lists made so far. Notes added in bulk (:meth:`RuleNotes.append`: an adjuster
notes a third to a half of a page's candidates, of which 20 are shown) are held as one mapping
per call and moved into a candidate's list only when that list is asked for;
:meth:`RuleNotes.append_coded` holds a code per candidate and the few notes the codes name
instead, so an adjuster noting ~300 rows by a few reasons builds no mapping of rows; those notes
can be made when first read (:class:`MadeNotes`), so a dozen reasons of which the shown cards
name a few cost a few dicts.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, SupportsIndex, overload

import numpy as np


class RuleNotes(Sequence[list[dict]]):
    """``n`` candidates' lists of notes, each list made (empty) when it is first asked for.

    Reads as a list of ``n`` lists: ``notes[i]`` (negative ``i`` from the end, ``IndexError``
    past it) is the same list object every time, so appending to it notes the candidate;
    iterating or slicing makes every list it yields. :meth:`take` shares the lists made so far
    with the new set, as a list of lists taken by index shares them: a note added later to a
    list made before the take shows in both sets, a list first made after it belongs to one.

    :meth:`append`'s notes wait, one ``{row: note}`` mapping per call in call order (or
    :meth:`append_coded`'s codes and notes), until the row's list is asked for (read, appended
    to, iterated, compared or taken): then they join it in the order they were added, after the
    notes it held, before any added later. So a list
    reads as if each note had been appended when it was added, as long as nobody keeps a list
    from before a bulk append and appends to it afterwards (the pipeline's stages ask again).
    """

    __slots__ = ("_lists", "_n", "_waiting")

    def __init__(self, n: int, lists: dict[int, list[dict]] | None = None) -> None:
        self._n = int(n)
        self._lists: dict[int, list[dict]] = {} if lists is None else lists
        self._waiting: list[dict[int, dict] | _Coded] = []  # bulk notes not yet in a list, oldest first

    @classmethod
    def of(cls, lists: Iterable[list[dict]]) -> RuleNotes:
        """The notes of a list of lists (one per candidate); its non-empty lists are held as they
        are (the same objects), its empty ones made anew when asked for."""
        lists = list(lists)
        return cls(len(lists), {i: notes for i, notes in enumerate(lists) if notes})

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: SupportsIndex) -> list[dict]: ...

    @overload
    def __getitem__(self, i: slice) -> list[list[dict]]: ...

    def __getitem__(self, i: SupportsIndex | slice) -> list[dict] | list[list[dict]]:
        if isinstance(i, slice):
            return [self._made(j) for j in range(*i.indices(self._n))]
        at = operator.index(i)
        if at < 0:
            at += self._n
        if not 0 <= at < self._n:
            raise IndexError("rule notes index out of range")
        return self._made(at)

    def _made(self, at: int) -> list[dict]:
        notes = self._lists.get(at)
        if self._waiting:
            due = self._due(at)
            if due:
                if notes is None:
                    notes = self._lists.setdefault(at, [])
                notes.extend(due)
        if notes is None:
            notes = self._lists.setdefault(at, [])  # setdefault: two readers get one list
        return notes

    def _due(self, at: int) -> list[dict]:
        """Row ``at``'s waiting notes in the order added, no longer waiting (a coded row's code
        is cleared: :class:`_Coded` holds its own list of codes)."""
        due = []
        for held in self._waiting:
            if held.__class__ is dict:
                if at in held:
                    due.append(held.pop(at))
                continue
            code = held.codes[at]  # inline, not a method per row and holder: read for every shown card
            if code >= 0:
                held.codes[at] = -1
                if (note := held.notes[code]) is not None:
                    due.append(note)
        return due

    def __iter__(self) -> Iterator[list[dict]]:
        return (self._made(at) for at in range(self._n))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleNotes | list):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self._lists_read(), other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list of lists it stands for

    def _lists_read(self) -> Iterator[list[dict]]:
        """Every candidate's notes without making the missing lists (a fresh empty one each)."""
        if not self._waiting:
            return (self._lists.get(at) or [] for at in range(self._n))
        return ((self._lists.get(at) or []) + [held[at] for held in self._waiting if at in held]
                for at in range(self._n))  # a _Coded answers ``in`` and ``[]`` as a dict

    def __repr__(self) -> str:
        return f"RuleNotes({list(self._lists_read())!r})"

    def append(self, rows: Sequence[int] | np.ndarray, notes: dict | Sequence[dict]) -> None:
        """Note candidates ``rows`` (0-based, in range): ``notes`` one dict shared by all of them or
        one per row. What ``notes[i].append(note)`` row by row does; the notes wait as one
        mapping until a row's list is asked for (class docstring), so noting ~300 rows of which
        20 are shown costs one ``dict`` built in C, not a list made per row."""
        if isinstance(rows, np.ndarray):  # bounds by numpy, not by Python over the listed rows
            if len(rows) and (rows.min() < 0 or rows.max() >= self._n):
                raise IndexError("rule notes index out of range")
            rows = rows.tolist()
        elif len(rows) and (min(rows) < 0 or max(rows) >= self._n):
            raise IndexError("rule notes index out of range")
        each = notes if not isinstance(notes, dict) else None
        if each is not None and len(each) != len(rows):
            raise ValueError(f"{len(each)} notes for {len(rows)} rows")
        if not len(rows):
            return
        held = dict.fromkeys(rows, notes) if each is None else dict(zip(rows, each, strict=True))
        if len(held) == len(rows):
            self._waiting.append(held)
            return
        for k, at in enumerate(rows):  # a row named twice: noted twice, in turn
            self._made(at).append(notes if each is None else each[k])

    def append_coded(self, codes: np.ndarray, notes: Sequence[dict | None]) -> None:
        """Note each candidate ``i`` with ``notes[codes[i]]``; none where ``codes[i] < 0`` or that
        note is None. The same lists in the same order as :meth:`append` of those rows and their
        notes, held as the codes (one int per candidate) and ``notes`` until a row is asked for
        (``notes`` a :class:`MadeNotes`: each made when a row naming it is first read)."""
        if len(codes) != self._n:
            raise ValueError(f"{len(codes)} codes for {self._n} candidates")
        if len(codes) and codes.max() >= len(notes):
            raise IndexError("a code past the notes given")
        self._waiting.append(_Coded(codes.tolist(), notes if notes.__class__ is MadeNotes else list(notes)))

    def take(self, rows: np.ndarray) -> RuleNotes:
        """The notes of the candidates at ``rows`` (indices, in the new set's order), sharing the
        lists made so far; nothing to walk when none is (the filter stage's takes)."""
        if not self._lists and not self._waiting:
            return RuleNotes(len(rows))
        at: list[Any] = np.where(rows < 0, rows + self._n, rows).tolist()
        if self._waiting:  # the taken rows' lists are made now, so both sets share them
            for r in set(at):  # a page's 20 rows looked up, not every waiting row listed
                if due := self._due(r):
                    self._lists.setdefault(r, []).extend(due)
        lists = self._lists
        return RuleNotes(len(at), {j: lists[r] for j, r in enumerate(at) if r in lists})


class MadeNotes(Sequence[dict | None]):
    """:meth:`RuleNotes.append_coded`'s notes made when first read: note ``j`` is ``make(j)``, made
    once and then the same object for every row that names it (as a list of notes shares them).
    An adjuster noting a page's candidates by a dozen reasons, of which the shown cards name a
    few, makes only those (``make`` must hold nothing of the request: it outlives no page but is
    kept with its notes)."""

    __slots__ = ("_made", "_make")

    def __init__(self, count: int, make: Callable[[int], dict | None]) -> None:
        self._make = make
        self._made: list[Any] = [_UNMADE] * count

    def __len__(self) -> int:
        return len(self._made)

    @overload
    def __getitem__(self, j: int) -> dict | None: ...

    @overload
    def __getitem__(self, j: slice) -> list[dict | None]: ...

    def __getitem__(self, j: int | slice) -> dict | list[dict | None] | None:
        if isinstance(j, slice):
            return [self[k] for k in range(*j.indices(len(self._made)))]
        note = self._made[j]
        if note is _UNMADE:
            note = self._made[j] = self._make(operator.index(j) % len(self._made))
        return note


_UNMADE = object()  # a MadeNotes entry not made yet


class _Coded:
    """:meth:`RuleNotes.append_coded`'s waiting notes: ``codes`` (a list of its own: a row taken
    out of waiting is set to -1) and ``notes``; read as :meth:`RuleNotes.append`'s ``{row: note}``
    mapping by ``in``, ``[]`` and ``items`` (``RuleNotes._due`` reads the codes itself)."""

    __slots__ = ("codes", "notes")

    def __init__(self, codes: list[int], notes: Sequence[dict | None]) -> None:
        self.codes, self.notes = codes, notes

    def _note(self, at: int) -> dict | None:
        code = self.codes[at]
        return None if code < 0 else self.notes[code]

    def __contains__(self, at: int) -> bool:
        return self._note(at) is not None

    def __getitem__(self, at: int) -> dict:
        if (note := self._note(at)) is None:
            raise KeyError(at)
        return note

    def items(self) -> Iterator[tuple[int, dict]]:
        notes = self.notes
        return ((at, notes[code]) for at, code in enumerate(self.codes)
                if code >= 0 and notes[code] is not None)
