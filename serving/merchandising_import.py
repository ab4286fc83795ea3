"""An export file taken back: the change lines an import writes, checked whole before any is written.

:func:`import_lines` turns a :class:`~serving.merchandising_schemas.MerchandisingFile` into the
change lines of one durable append. ``merge`` puts every item of the file (an item without an
``id`` gets a new one; an item equal to the one in force, times and author aside, is skipped,
so importing an export again changes nothing and adds no history); ``replace`` also deletes
every item in force the file does not hold. Every problem of the whole file is named at once
(a rule id must start ``r-``, a synonym set's ``s-``; an id appears once; a pin the served
catalog cannot show) and then nothing is written.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import HTTPException

from ranking.merchandising.changes import (
    DELETE,
    ID_PREFIX,
    MERCH_RULES,
    MERCH_SYNONYMS,
    PUT,
    change_line,
    new_id,
)
from ranking.merchandising.rule import Rule
from ranking.merchandising.state import MerchandisingState
from serving.auth import OPERATOR
from serving.merchandising import item_json, rule_refusals
from serving.merchandising_schemas import MerchandisingFile

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
SERVICE_FIELDS = {"id", "author", "created_ms", "updated_ms"}
REPLACED = "import (replace): not in the imported file"


def _same(prior: Any, item: Any) -> bool:
    def bare(x: Any) -> dict:
        return {k: v for k, v in item_json(x).items() if k not in SERVICE_FIELDS}

    return bare(prior) == bare(item)


def _id_problems(item_id: str, table: str, seen: set[str], where: list) -> list[dict]:
    out = []
    if not ID_PATTERN.match(item_id) or not item_id.startswith(ID_PREFIX[table]):
        out.append(f"an id is 1-64 letters, digits or _.:- starting {ID_PREFIX[table]!r} for a "
                   f"{'rule' if table == MERCH_RULES else 'synonym set'}")
    if item_id in seen:
        out.append(f"id {item_id!r} appears more than once in the file")
    return [{"loc": [*where, "id"], "msg": m, "type": "value_error"} for m in out]


def import_lines(current: MerchandisingState, served: Any, file: MerchandisingFile, mode: str,
                 now_ms: int) -> list[tuple[str, dict]]:
    """The lines importing ``file`` writes (module docstring); 422 naming every problem."""
    problems: list[dict] = []
    lines: list[tuple[str, dict]] = []
    seen: set[str] = set()
    kinds = ((MERCH_RULES, file.rules, "rules"), (MERCH_SYNONYMS, file.synonyms, "synonyms"))
    for table, items, field in kinds:
        for i, item in enumerate(items):
            where = ["body", field, i]
            item_id = item.id or new_id(table)
            problems += _id_problems(item_id, table, seen, where)
            seen.add(item_id)
            if table == MERCH_RULES:
                problems += [{**p, "loc": [*where, *p["loc"][1:]]} for p in rule_refusals(item, served)]
            prior = current.get(item_id)
            created = item.created_ms or (prior.created_ms if prior is not None else now_ms)
            stored = item.model_copy(update={"id": item_id, "author": OPERATOR, "created_ms": created,
                                             "updated_ms": now_ms})
            if prior is None or not _same(prior, stored):
                line = change_line(PUT, item_id, item_json(stored), OPERATOR, stored.reason, now_ms)
                lines.append((table, line))
    if problems:
        raise HTTPException(422, detail=problems)
    if mode == "replace":
        for item in (*current.book.rules, *current.book.synonyms):
            if item.id not in seen:
                table = MERCH_RULES if isinstance(item, Rule) else MERCH_SYNONYMS
                lines.append((table, change_line(DELETE, item.id, None, OPERATOR, REPLACED, now_ms)))
    return lines


def export_file(current: MerchandisingState) -> dict:
    """The whole book as one file: rules then synonym sets, each oldest first (a stable order)."""
    book = current.book
    return {"format": 1, "rules": [item_json(r) for r in book.rules],
            "synonyms": [item_json(s) for s in book.synonyms]}
