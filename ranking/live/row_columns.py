"""A poll's rows of one table as columns, exposures' cards added without a dict per card.

The embedded tail reads ~100 exposure lines a poll, each one page of 20 cards. Made into one
impression dict per card (:meth:`~ranking.live.log_tail.LogTail.poll`), they were read back
field by field by the first-showing check, the channel's counts and the Arrow tables: ~1.3-1.6
ms a poll of the tail's Python (a helper's scratch reading) while pages wait for the interpreter
lock. :class:`RowColumns` holds the same rows, in the same order, as one list per field (None
where a row names none): a line's shared fields are repeated once per field, its cards' product
ids and positions extended as they are. :meth:`RowColumns.rows` gives back the dicts the rows
would have been (each with the fields its line named), which the tests compare with the dict
path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import repeat
from operator import itemgetter
from typing import Any

CARD_FIELDS = ("product_id", "position")


class RowColumns:
    """Rows as columns: ``values[field]`` a list of every row's value, ``named[field]`` whether
    each row named the field (None: every row did), in row order."""

    def __init__(self) -> None:
        self.values: dict[str, list] = {}
        self.named: dict[str, list[bool] | None] = {}
        self.n = 0
        self.ragged = False  # some row left some field out (a ``named`` list is kept)

    def __len__(self) -> int:
        return self.n

    def column(self, name: str) -> list:
        """Every row's ``name`` (None where a row names none)."""
        values = self.values.get(name)
        return values if values is not None else [None] * self.n

    def _open(self, names: Iterable[str]) -> None:
        """Fields not seen before: None for the rows so far, which did not name them."""
        for name in names:
            if name not in self.values:
                self.values[name] = [None] * self.n
                self.named[name] = [False] * self.n if self.n else None
                self.ragged = self.ragged or bool(self.n)

    def _mark(self, name: str, count: int, named: bool) -> None:
        marks = self.named[name]
        if marks is None and not named:
            marks = self.named[name] = [True] * self.n
            self.ragged = True
        if marks is not None:
            marks.extend(repeat(named, count))

    def add_rows(self, rows: list[Mapping[str, Any]]) -> None:
        """Rows (one dict each) appended."""
        if not rows:
            return
        self._open(set().union(*rows))
        for name, values in self.values.items():
            try:  # a C-level pass when every row holds the field (a table's rows usually do)
                got = list(map(itemgetter(name), rows))
            except KeyError:
                got = None
            if got is not None:
                values.extend(got)
                self._mark(name, len(rows), True)
            else:
                values.extend([r.get(name) for r in rows])
                marks = self.named[name]
                if marks is None:
                    marks = self.named[name] = [True] * self.n
                    self.ragged = True
                marks.extend([name in r for r in rows])
        self.n += len(rows)

    def add_cards(self, shared: Mapping[str, Any], products: list, positions: list) -> None:
        """One page's cards appended: a row per card holding ``shared`` and its product id and
        position (``products`` and ``positions`` of one length)."""
        count = len(products)
        if not count:
            return
        values = self.values
        if (not self.ragged and self.n and len(values) == len(shared) + 2 and "product_id" in values
                and "position" in values and values.keys() >= shared.keys()):
            # the usual page: the fields every row so far named, no more, no fewer
            for name, column in values.items():
                if name == "product_id":
                    column.extend(products)
                elif name == "position":
                    column.extend(positions)
                else:
                    column.extend(repeat(shared[name], count))
            self.n += count
            return
        self._open(shared)
        self._open(CARD_FIELDS)
        for name, values in self.values.items():
            if name == "product_id":
                values.extend(products)
            elif name == "position":
                values.extend(positions)
            else:
                values.extend(repeat(shared.get(name), count))
            self._mark(name, count, name in shared or name in CARD_FIELDS)
        self.n += count

    def take(self, at: list[int]) -> RowColumns:
        """The rows at positions ``at`` (ascending), as new columns."""
        out = RowColumns()
        out.n = len(at)
        for name, values in self.values.items():
            out.values[name] = [values[i] for i in at]
            marks = self.named[name]
            out.named[name] = None if marks is None else [marks[i] for i in at]
        return out

    def has(self, name: str) -> bool:
        """Whether some row names ``name``."""
        marks = self.named.get(name, [])
        return marks is None or any(marks)

    def rows(self) -> list[dict]:
        """The rows as dicts, each with the fields it named."""
        out: list[dict] = [{} for _ in range(self.n)]
        for name, values in self.values.items():
            marks = self.named[name]
            for row, value, named in zip(out, values, repeat(True) if marks is None else marks, strict=False):
                if named:
                    row[name] = value
        return out
