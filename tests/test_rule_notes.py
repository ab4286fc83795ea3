"""Rule notes added in bulk (``RuleNotes.append``) wait until a row's list is asked for, and then
read as if each had been appended when it was added (the adjusters note hundreds of rows a page,
of which 20 are shown)."""

from __future__ import annotations

import numpy as np
import pytest

from ranking.pipeline.rule_notes import RuleNotes


def test_bulk_notes_wait_until_a_row_is_asked_for_and_join_its_list_in_the_order_added():
    a, b, c, d = ({"rule": r} for r in "abcd")
    notes = RuleNotes(6)
    notes[2].append(a)
    notes.append(np.array([2, 4, 5]), b)  # rows as an array, one note shared
    assert set(notes._lists) == {2}  # no list made for the bulk notes yet
    notes[4].append(c)  # a row asked for: its waiting note first, then the new one
    notes.append([4, 2], [d, d])
    assert set(notes._lists) == {2, 4}
    assert notes[2] == [a, b, d] and notes[4] == [b, c, d]
    assert notes == [[], [], [a, b, d], [], [b, c, d], [b]] and len(notes._lists) == 2  # compared, not made
    assert repr(notes) == f"RuleNotes({[[], [], [a, b, d], [], [b, c, d], [b]]!r})"
    assert list(notes) == [[], [], [a, b, d], [], [b, c, d], [b]]


def test_a_take_shares_the_lists_of_waiting_notes_with_its_parent():
    shared, later = {"rule": "x"}, {"rule": "later"}
    notes = RuleNotes(5)
    notes.append([1, 3], shared)
    page = notes.take(np.array([3, -4, 0]))  # -4 is row 1
    assert page == [[shared], [shared], []] and page[0] is notes[3] and page[1] is notes[1]
    assert 4 not in notes._lists and 0 not in notes._lists  # only the taken rows' lists made
    page[0].append(later)
    assert notes[3] == [shared, later]


def test_a_row_named_twice_in_one_bulk_append_is_noted_twice_in_turn():
    a, b, c = ({"rule": r} for r in "abc")
    notes = RuleNotes(3)
    notes.append([0], a)
    notes.append([1, 0, 1], [b, c, a])
    assert notes == [[a, c], [b, a], []]
    with pytest.raises(ValueError):
        notes.append([], [a])


def test_coded_notes_read_as_the_same_rows_noted_one_by_one_in_the_same_order():
    a, b, c, d = ({"rule": r} for r in "abcd")
    coded, plain = RuleNotes(6), RuleNotes(6)
    for notes in (coded, plain):
        notes[1].append(a)
    coded.append_coded(np.array([-1, 0, 1, 2, 0, -1], np.int8), [b, None, c])  # None and -1: no note
    plain.append([1, 3, 4], [b, c, b])
    for notes in (coded, plain):
        notes.append([3, 1], d)
    assert coded == plain == [[], [a, b, d], [], [c, d], [b], []] and len(coded._lists) == 1
    assert repr(coded) == repr(plain)
    page = coded.take(np.array([3, 5, 1]))  # the taken rows' waiting notes joined, once
    assert page == [[c, d], [], [a, b, d]] and page[0] is coded[3] and 5 not in coded._lists
    assert coded[1] == [a, b, d] and coded[3] == [c, d]  # asked again: not noted twice
    with pytest.raises(ValueError):
        coded.append_coded(np.zeros(5, np.int8), [a])
    with pytest.raises(IndexError):
        coded.append_coded(np.full(6, 1, np.int8), [a])


def test_made_notes_are_made_when_a_row_naming_them_is_first_read_and_shared_by_its_rows():
    from ranking.pipeline.rule_notes import MadeNotes

    made: list[int] = []

    def make(j: int) -> dict | None:
        made.append(j)
        return None if j == 2 else {"rule": "r", "j": j}

    lazy, plain = RuleNotes(6), RuleNotes(6)
    notes = MadeNotes(4, make)
    lazy.append_coded(np.array([1, -1, 0, 1, 2, 3], np.int8), notes)
    assert made == [] and len(notes) == 4  # nothing made by noting
    plain.append_coded(np.array([1, -1, 0, 1, 2, 3], np.int8), [make(j) for j in range(4)])
    made.clear()
    assert lazy[3] == [{"rule": "r", "j": 1}] and made == [1]
    assert lazy[0][0] is lazy[3][0] and made == [1]  # made once, the same dict for both rows
    page = lazy.take(np.array([4, 2]))  # None (code 2) notes nothing, as in a list of notes
    assert page == [[], [{"rule": "r", "j": 0}]] and sorted(made) == [0, 1, 2]
    assert lazy == plain and notes[-1] == {"rule": "r", "j": 3}
    assert notes[1:3] == [{"rule": "r", "j": 1}, None]
