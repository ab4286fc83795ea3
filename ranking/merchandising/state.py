"""The merchandising change lines folded into the book in force and each item's history.

:class:`MerchandisingState` folds ``(table, line)`` pairs of the change tables
(:mod:`ranking.merchandising.changes`) into the current :class:`MerchandisingBook` and keeps
every line as the audit trail. Folding converges whatever order the lines arrive in and however
often: a line seen before (its ``change`` id) is skipped, and each id holds the item of its
latest line by ``(changed_ms, change)`` (last writer wins), so two workers that read the same
lines in different orders serve the same book. ``book.version`` counts the distinct lines
folded. Rules are ordered by creation time then id, synonym sets likewise, so the book (and the
export) has a stable order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ranking.merchandising.book import EMPTY_BOOK, MerchandisingBook
from ranking.merchandising.changes import DELETE, MERCH_RULES, MERCH_SYNONYMS
from ranking.merchandising.rule import Rule
from ranking.merchandising.synonym import Synonym

log = logging.getLogger("shelfrank.merchandising")
KINDS = {MERCH_RULES: Rule, MERCH_SYNONYMS: Synonym}
KIND_NAMES = {MERCH_RULES: "rule", MERCH_SYNONYMS: "synonym"}


def _order(line: dict) -> tuple[int, str]:
    return int(line["changed_ms"]), str(line["change"])


@dataclass
class MerchandisingState:
    """The book in force and every change line by item id (module docstring)."""

    book: MerchandisingBook = EMPTY_BOOK
    bad_lines: int = 0
    _seen: set[str] = field(default_factory=set)
    _latest: dict[str, tuple[str, dict]] = field(default_factory=dict)  # id -> (table, its latest line)
    _items: dict[str, Any] = field(default_factory=dict)  # id -> Rule | Synonym in force
    _history: dict[str, list[dict]] = field(default_factory=dict)  # id -> its lines by (changed_ms, change)

    def fold(self, pairs: Iterable[tuple[str, dict]]) -> int:
        """Fold ``(table, line)`` pairs; publish a new book when any was new; return how many were."""
        new, changed = 0, set()
        for table, line in pairs:
            change = line.get("change")
            if table not in KINDS or not change or change in self._seen:
                continue
            self._seen.add(change)
            new += 1
            self._history.setdefault(line["id"], []).append({**line, "kind": KIND_NAMES[table]})
            self._history[line["id"]].sort(key=_order)
            held = self._latest.get(line["id"])
            if held is None or _order(held[1]) < _order(line):
                self._latest[line["id"]] = (table, line)
                self._take(table, line)
                changed.add(table)
        if new:
            self._publish(changed)
        return new

    def _take(self, table: str, line: dict) -> None:
        if line["op"] == DELETE or line.get("item") is None:
            self._items.pop(line["id"], None)
            return
        try:
            self._items[line["id"]] = KINDS[table].model_validate(line["item"])
        except ValidationError as exc:  # logged by an older contract: kept in the history, not served
            self.bad_lines += 1
            self._items.pop(line["id"], None)
            log.error("merchandising: %s %s in the log no longer passes its checks, not served: %s",
                      KIND_NAMES[table], line["id"], exc)

    def _publish(self, changed: set[str]) -> None:
        """A new book (one assignment); a kind no line of ``changed`` touched keeps its tuple, so
        its built index is handed on (:meth:`MerchandisingBook.succeeded_by`)."""
        def of(kind: type, table: str, held: tuple) -> tuple:
            if table not in changed:
                return held
            return tuple(sorted((i for i in self._items.values() if isinstance(i, kind)),
                                key=lambda i: (i.created_ms or 0, i.id or "")))

        self.book = self.book.succeeded_by(of(Rule, MERCH_RULES, self.book.rules),
                                           of(Synonym, MERCH_SYNONYMS, self.book.synonyms), len(self._seen))

    def get(self, item_id: str) -> Any | None:
        """The rule or synonym set of ``item_id`` in force, or None (unknown or deleted)."""
        return self._items.get(item_id)

    def history(self, item_id: str) -> list[dict]:
        """Every change of ``item_id`` oldest first, each with the item ``before`` and ``after`` it."""
        out, before = [], None
        for line in self._history.get(item_id, []):
            after = None if line["op"] == DELETE else line.get("item")
            out.append(_entry(line, before, after))
            before = after
        return out

    def changes_since(self, since_ms: int, kind: str | None = None) -> list[dict]:
        """Every change at or after ``since_ms`` (of ``kind``: rule or synonym, or both), oldest first."""
        out = []
        for item_id, lines in self._history.items():
            if kind is not None and lines[0]["kind"] != kind:
                continue
            out.extend(e for e in self.history(item_id) if e["changed_ms"] >= since_ms)
        return sorted(out, key=lambda e: (e["changed_ms"], e["change"]))


def _entry(line: dict, before: Any, after: Any) -> dict:
    return {"change": line["change"], "kind": line["kind"], "id": line["id"], "op": line["op"],
            "author": line.get("author"), "reason": line.get("reason"), "changed_ms": int(line["changed_ms"]),
            "before": before, "after": after}
