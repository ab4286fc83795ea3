"""The merchandising API's answers and the examples its OpenAPI page shows (serving/routes/merchandising.py).

Request bodies are the contract's own models (:class:`ranking.merchandising.rule.Rule`,
:class:`ranking.merchandising.synonym.Synonym`): a bad field is a 422 naming it. The export file
(:class:`MerchandisingFile`) is what ``POST /v1/merchandising/import`` takes back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ranking.merchandising.rule import Rule
from ranking.merchandising.synonym import Synonym

FILE_FORMAT = 1
RULE = {"match": {"query": "大米"}, "action": {"pin": [1017, 2044]},
        "schedule": {"start": "2026-12-05T06:00:00+08:00", "end": "2026-12-12T12:00:00+08:00",
                     "slots": ["morning"]},
        "reason": "subsidised rice on 大米 for the morning session", "priority": 10}
STORED_RULE = {**RULE, "id": "r-3f9a1c2e7b40", "author": "operator", "created_ms": 1796450400000,
               "updated_ms": 1796450400000}
SYNONYM = {"terms": ["phone", "手机", "smartphone"], "one_way": False,
           "reason": "the catalog says 手机 and smartphone, shoppers type phone"}
STORED_SYNONYM = {**SYNONYM, "id": "s-81c0d4a29e11", "author": "operator", "created_ms": 1796450400000,
                  "updated_ms": 1796450400000}
CHANGE = {"change": "5d0c2b7e9f1a4c3b8e6d2a1f0b9c8d7e", "kind": "rule", "id": "r-3f9a1c2e7b40",
          "op": "put", "author": "operator", "reason": "subsidised rice on 大米 for the morning session",
          "changed_ms": 1796450400000, "before": None, "after": STORED_RULE}


class RuleList(BaseModel):
    """The rules (``?active=true``: only those in force now), oldest first."""

    version: int = Field(description="change lines folded into the book this worker serves")
    rules: list[Rule]
    history: dict[str, list[Change]] | None = Field(None, description="each rule's changes "
                                                    "(``?include_history=true``)")


class SynonymList(BaseModel):
    """The synonym sets, oldest first."""

    version: int = Field(description="change lines folded into the book this worker serves")
    synonyms: list[Synonym]
    history: dict[str, list[Change]] | None = None


class Change(BaseModel):
    """One logged change of a rule or synonym set: who, when, what, the item before and after."""

    change: str = Field(description="the change line's unique id")
    kind: Literal["rule", "synonym"]
    id: str
    op: Literal["put", "delete"]
    author: str | None = Field(description="the token's owner that wrote it (operator)")
    reason: str | None
    changed_ms: int = Field(description="when the service took it (UTC epoch ms)")
    before: dict[str, Any] | None = Field(None, description="the item before this change (null: created)")
    after: dict[str, Any] | None = Field(None, description="the item after it (null: deleted)")


class History(BaseModel):
    """Changes, oldest first."""

    changes: list[Change]


class Deleted(BaseModel):
    id: str
    deleted: bool = True
    version: int


class DeleteReason(BaseModel):
    """Why an item is deleted (the audit trail keeps it); may instead come as ``?reason=``."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)


class MerchandisingFile(BaseModel):
    """Every rule and synonym set in one file, in a stable order (ids, then creation), reviewable
    in git; ``POST /v1/merchandising/import`` takes it back."""

    model_config = ConfigDict(extra="forbid")
    format: Literal[1] = FILE_FORMAT
    rules: list[Rule] = Field(default_factory=list, max_length=1_000_000)
    synonyms: list[Synonym] = Field(default_factory=list, max_length=1_000_000)


class Imported(BaseModel):
    """What an import wrote (every line in one durable append)."""

    mode: Literal["merge", "replace"]
    rules: int = Field(description="rules written (created or replaced)")
    synonyms: int = Field(description="synonym sets written")
    deleted: int = Field(description="items deleted (replace: those the file does not hold)")
    version: int


RuleList.model_rebuild()
SynonymList.model_rebuild()
RULE_EXAMPLES = {"pin": {"summary": "pin two products on 大米 in the morning", "value": RULE},
                 "hide": {"summary": "hide a product under investigation everywhere on search",
                          "value": {"match": {"surface": "search"}, "action": {"hide": [4411]},
                                    "reason": "under investigation (ticket 5512)"}},
                 "bury": {"summary": "bury accessories on 手机",
                          "value": {"match": {"contains": "手机"},
                                    "action": {"bury": {"target": {"category_id": 117}, "by": 1.5}},
                                    "reason": "shoppers want the phones first"}}}
SYNONYM_EXAMPLES = {"two_way": {"summary": "phone, 手机 and smartphone search alike", "value": SYNONYM},
                    "one_way": {"summary": "phone also searches 手机, not the other way",
                                "value": {"terms": ["phone", "手机"], "one_way": True,
                                          "reason": "English typed"}}}
FILE_EXAMPLE = {"format": FILE_FORMAT, "rules": [STORED_RULE], "synonyms": [STORED_SYNONYM]}
