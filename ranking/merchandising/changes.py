"""The merchandising change tables: one line of the durable event log per rule or synonym change.

Two tables of the event log (:mod:`ranking.event_log`, one folder each under
``serving.events_dir``), written by the ``/v1/rules``, ``/v1/synonyms`` and
``/v1/merchandising/import`` endpoints with one append and an fsync before they answer, and
folded by every worker into the book it serves (:mod:`ranking.merchandising.state`):

* ``merch_rules``: one line per rule change; ``merch_synonyms``: one per synonym-set change.

A line is ``{"op": "put" | "delete", "id", "item": <the rule or set as stored, null on delete>,
"author", "reason", "changed_ms", "change"}`` beside the log's own ``_client`` and
``_received_ms``. ``change`` is a unique id of the line, so a line delivered twice (the Redis
stream is at least once, and a worker also reads its own host's log) folds once. The log is
both the truth and the audit trail: nothing is ever rewritten.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

MERCH_RULES, MERCH_SYNONYMS = "merch_rules", "merch_synonyms"
MERCH_TABLES = (MERCH_RULES, MERCH_SYNONYMS)
PUT, DELETE = "put", "delete"
Op = Literal["put", "delete"]
ID_PREFIX = {MERCH_RULES: "r-", MERCH_SYNONYMS: "s-"}  # ids never collide across the two kinds


def new_id(table: str) -> str:
    """A fresh server-assigned id for an item of ``table`` (``r-…`` a rule, ``s-…`` a synonym set)."""
    return f"{ID_PREFIX[table]}{uuid.uuid4().hex[:12]}"


def change_line(op: Op, item_id: str, item: dict[str, Any] | None, author: str, reason: str,
                changed_ms: int) -> dict[str, Any]:
    """One logged change (module docstring)."""
    return {"op": op, "id": item_id, "item": item, "author": author, "reason": reason,
            "changed_ms": int(changed_ms), "change": uuid.uuid4().hex}
