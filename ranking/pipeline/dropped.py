"""A page's dropped entries: every candidate a filter removed, every repeat in a caller's list and
every pin not honoured, each ``{"product_id", "reason", "stage"}``, kept as arrays until read.

A search drops ~560 of ~850 recalled candidates (nearly all below the relevance floor). One dict
per entry cost about 0.15 ms a search to make, and as much again for the response's encoder to
walk. :class:`DroppedEntries` keeps each filter's removed ids with their reasons and its stage,
reads as the same list of dicts, in the same order (made once, on the first read), and
:meth:`DroppedEntries.json` writes that list's JSON from the arrays, byte for byte what
``orjson.dumps`` makes of the dicts (the service's encoder, ``serving/pages.py``). The page report
reads the reasons it needs (:meth:`~DroppedEntries.reasons_of`, :meth:`~DroppedEntries.first_reasons`)
without the dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import orjson

from ranking.membership import isin_few


class _Part:
    """One stage's removals in order: ids, and one reason for all (a str) or one each (an array)."""

    __slots__ = ("ids", "reasons", "stage")

    def __init__(self, ids: np.ndarray, reasons: str | np.ndarray, stage: str) -> None:
        self.ids, self.reasons, self.stage = ids, reasons, stage

    def reason_list(self) -> list[str]:
        if isinstance(self.reasons, str):
            return [self.reasons] * len(self.ids)
        # a numpy str array's (or an object array's) tolist is strs already; other values as str()
        listed = self.reasons.tolist()
        return listed if self.reasons.dtype.kind in "UO" else [str(r) for r in listed]

    def dicts(self) -> list[dict]:
        stage = self.stage
        return [{"product_id": p, "reason": r, "stage": stage}
                for p, r in zip(self.ids.tolist(), self.reason_list(), strict=True)]

    def json(self) -> bytes:
        """The part's entries as JSON objects joined by commas (no brackets). One reason for all
        (the relevance floor's ~440 on a search): orjson's text of the ids' array with each comma
        between two ids replaced by the end of one entry and the start of the next, no Python
        object per id. Mixed reasons (governance's few): orjson of the dicts, as before."""
        if isinstance(self.reasons, str):
            return _run(self.ids, self.reasons, orjson.dumps(self.stage))
        reasons = self.reason_list()
        if len(set(reasons)) == 1:
            return _run(self.ids, reasons[0], orjson.dumps(self.stage))
        return orjson.dumps(self.dicts())[1:-1]


def _run(ids: np.ndarray, reason: str, stage: bytes) -> bytes:
    """Entries of ``ids`` (int64, at least one) with one reason and stage (its JSON text)."""
    head = b'{"product_id":'
    tail = b',"reason":' + orjson.dumps(reason) + b',"stage":' + stage + b"}"
    numbers = orjson.dumps(np.ascontiguousarray(ids, dtype=np.int64), option=orjson.OPT_SERIALIZE_NUMPY)
    return head + numbers[1:-1].replace(b",", tail + b"," + head) + tail


class DroppedEntries(Sequence[dict]):
    """The dropped entries of one page (module docstring), read as a list of dicts."""

    __slots__ = ("_listed", "_parts")

    def __init__(self, entries: Iterable[dict] = ()) -> None:
        self._parts: list[_Part | list[dict]] = []
        self._listed: list[dict] | None = None
        self.extend(entries)

    def add(self, ids: np.ndarray, reasons: str | np.ndarray, stage: str) -> None:
        """Append ``ids`` (int64), removed at ``stage`` for ``reasons`` (one str, or one per id)."""
        if len(ids):
            self._parts.append(_Part(ids, reasons, stage))
            self._listed = None

    def extend(self, entries: Iterable[dict]) -> None:
        """Append entries made as dicts (a few: unhonoured pins)."""
        entries = list(entries)
        if entries:
            self._parts.append(entries)
            self._listed = None

    def _list(self) -> list[dict]:
        listed = self._listed
        if listed is None:
            listed = []
            for part in self._parts:
                listed += part if isinstance(part, list) else part.dicts()
            self._listed = listed
        return listed

    def __len__(self) -> int:
        return sum(len(p) if isinstance(p, list) else len(p.ids) for p in self._parts)

    def __getitem__(self, i: int | slice) -> dict | list[dict]:  # type: ignore[override]
        return self._list()[i]

    def __iter__(self) -> Iterator[dict]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (DroppedEntries, list, tuple)):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # mutable, as a list

    def __repr__(self) -> str:
        return f"DroppedEntries({self._list()!r})"

    def reasons_of(self, stage: str) -> set[str]:
        """The distinct reasons of the entries of ``stage``."""
        out: set[str] = set()
        for part in self._parts:
            if isinstance(part, list):
                out.update(d["reason"] for d in part if d["stage"] == stage)
            elif part.stage == stage:
                out.update([part.reasons] if isinstance(part.reasons, str) else part.reason_list())
        return out

    def first_reasons(self, ids: set[int]) -> dict[int, str]:
        """The reason of each of ``ids``' first entry (ids without an entry are left out)."""
        out: dict[int, str] = {}
        wanted = None
        for part in self._parts:
            if isinstance(part, list) or len(part.ids) <= 32:  # a few: walked in Python
                entries = part if isinstance(part, list) else part.dicts()
                for d in entries:
                    if d["product_id"] in ids:
                        out.setdefault(d["product_id"], d["reason"])
                continue
            if wanted is None:
                wanted = np.fromiter(ids, dtype=np.int64, count=len(ids))
            at = np.flatnonzero(isin_few(part.ids, wanted)).tolist()
            reasons = part.reason_list() if at else []
            for i in at:
                out.setdefault(int(part.ids[i]), reasons[i])
        return out

    def json(self) -> bytes:
        """The entries as a JSON array, as ``orjson.dumps(list(self))`` writes it."""
        texts = [orjson.dumps(p, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1] if isinstance(p, list) else p.json()
                 for p in self._parts]
        return b"[" + b",".join(texts) + b"]"
