"""The merchandising API: rules and synonym sets, their audit trail, export and import (operator token).

``/v1/rules`` and ``/v1/synonyms``: ``GET`` lists (rules: ``?active=true`` only those in force
now; ``?include_history=true`` each item's changes), ``POST`` creates (201 with the stored item:
a server-assigned ``id``, ``author`` the token's owner, ``created_ms``), ``GET /{id}``,
``PUT /{id}`` replaces, ``DELETE /{id}`` with a ``reason`` (body or ``?reason=``), ``GET
/{id}/history``; an unknown id is a 404. ``GET /v1/merchandising/history?since=`` is every change
since a moment; ``GET /v1/merchandising/export`` the whole book as one file and ``POST
/v1/merchandising/import?mode=merge|replace`` takes it back, checked whole before anything is
written. Every write is durable before it is acknowledged and this worker serves it at once
(:mod:`serving.merchandising`); every other worker within about ``live.poll_ms``. A bad field is
a 422 naming it, a pin of an unknown, banned or sold-out product a 422 naming the product, a
limit a 413 naming the setting; nothing is written on any refusal. The operator token only:
none is a 401, another token a 403.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from fastapi import Path as FastPath

from ranking.mall_clock import local_hour
from ranking.merchandising.changes import DELETE, MERCH_RULES, MERCH_SYNONYMS, PUT, change_line, new_id
from ranking.merchandising.in_force import schedule_holds
from ranking.merchandising.rule import Rule
from ranking.merchandising.synonym import Synonym
from serving.api_examples import ok
from serving.auth import OPERATOR, admin
from serving.dependencies import engine, service_state
from serving.merchandising import IMPORT_PATH, follower_of, item_json, rule_refusals, write_changes
from serving.merchandising_import import export_file, import_lines
from serving.merchandising_schemas import (
    CHANGE,
    FILE_EXAMPLE,
    RULE_EXAMPLES,
    STORED_RULE,
    STORED_SYNONYM,
    SYNONYM_EXAMPLES,
    Deleted,
    DeleteReason,
    History,
    Imported,
    MerchandisingFile,
    RuleList,
    SynonymList,
)
from serving.responses import errors
from serving.state import ServiceState

router = APIRouter(tags=["merchandising"], dependencies=[Depends(admin)])
WHY = {"reason": {"summary": "why it goes (kept in the audit trail)", "value": {"reason": "campaign over"}}}
NOT_FOUND = {404: "no rule or synonym set of this id (never created, or deleted)"}
READ = errors(401, 403, 422, 429, 503)
ONE = errors(401, 403, 404, 422, 429, 503, reasons=NOT_FOUND)
WRITE = errors(401, 403, 413, 422, 429, 503)


def item_id_path() -> Any:
    """A path's item id (a fresh parameter per route: FastAPI names a shared one after its first use)."""
    return FastPath(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


def created(model: type, example: dict) -> dict:
    """``responses=`` for a 201 with the stored item (its model and an example)."""
    shown = {"stored": {"summary": "stored", "value": example}}
    return {201: {"model": model, "description": "created: the stored item with its id",
                  "content": {"application/json": {"examples": shown}}}}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _known(state: ServiceState, table: str, item_id: str) -> Any:
    """The item of ``item_id`` in force, of the table's kind; 404 otherwise."""
    item = follower_of(state).state.get(item_id)
    if item is None or not isinstance(item, Rule if table == MERCH_RULES else Synonym):
        raise HTTPException(404, detail=f"no {'rule' if table == MERCH_RULES else 'synonym set'} "
                                        f"{item_id!r} (never created, or deleted)")
    return item


def _refuse(problems: list[dict]) -> None:
    if problems:
        raise HTTPException(422, detail=problems)


def put_item(state: ServiceState, table: str, item: Any, item_id: str, prior: Any | None) -> dict:
    """Store ``item`` under ``item_id`` (the service's id, author and times), durably; its JSON."""
    now = _now_ms()
    stored = item.model_copy(update={"id": item_id, "author": OPERATOR, "updated_ms": now,
                                     "created_ms": prior.created_ms if prior is not None else now})
    line = change_line(PUT, item_id, item_json(stored), OPERATOR, stored.reason, now)
    write_changes(state, [(table, line)])
    return item_json(follower_of(state).state.get(item_id) or stored)


def delete_item(state: ServiceState, table: str, item_id: str, body: DeleteReason | None,
                reason: str | None) -> dict:
    _known(state, table, item_id)
    why = body.reason if body is not None else reason
    if not why or not why.strip():
        raise HTTPException(422, detail=[{"loc": ["body", "reason"], "msg": "a deletion needs a reason "
                                          "(in the body or ?reason=): the audit trail keeps it",
                                          "type": "missing"}])
    book = write_changes(state, [(table, change_line(DELETE, item_id, None, OPERATOR, why, _now_ms()))])
    return {"id": item_id, "deleted": True, "version": book.version}


def item_history(state: ServiceState, item_id: str) -> dict:
    changes = follower_of(state).state.history(item_id)
    if not changes:
        raise HTTPException(404, detail=f"no rule or synonym set {item_id!r} was ever created")
    return {"changes": changes}


def _with_history(state: ServiceState, ids: list[str], include: bool) -> dict | None:
    return {i: follower_of(state).state.history(i) for i in ids} if include else None


# ---- rules ---------------------------------------------------------------------------------------
@router.get("/v1/rules", response_model=RuleList, response_model_exclude_none=True,
            responses={**ok(rules=("the rules", {"version": 3, "rules": [STORED_RULE]})), **READ})
def list_rules(active: bool = Query(False, description="only the rules in force now"),
               include_history: bool = Query(False, description="each rule's changes too"),
               state: ServiceState = Depends(service_state)) -> dict:
    """The rules, oldest first (``?active=true``: only those whose schedule holds now)."""
    book = follower_of(state).book
    rules = list(book.rules)
    if active:
        now = _now_ms()
        hour = int(local_hour([now], state.settings.mall.timezone)[0])
        rules = [r for r in rules if schedule_holds(r.schedule, now, hour)]
    return {"version": book.version, "rules": rules,
            "history": _with_history(state, [r.id for r in rules], include_history)}


@router.post("/v1/rules", status_code=201, response_model=None,
             responses={**created(Rule, STORED_RULE), **WRITE})
def create_rule(rule: Rule = Body(openapi_examples=RULE_EXAMPLES),
                state: ServiceState = Depends(service_state), served=Depends(engine)) -> dict:
    """Create a rule (201 with its id); a pin the served catalog cannot show is a 422."""
    _refuse(rule_refusals(rule, served))
    return put_item(state, MERCH_RULES, rule, new_id(MERCH_RULES), None)


@router.get("/v1/rules/{rule_id}", response_model=Rule, response_model_exclude_none=True,
            responses={**ok(rule=("a rule", STORED_RULE)), **ONE})
def get_rule(rule_id: str = item_id_path(), state: ServiceState = Depends(service_state)) -> Any:
    """One rule in force."""
    return _known(state, MERCH_RULES, rule_id)


@router.put("/v1/rules/{rule_id}", response_model=Rule, response_model_exclude_none=True,
            responses={**ok(rule=("the stored rule", STORED_RULE)), **WRITE,
                       **errors(404, reasons=NOT_FOUND)})
def replace_rule(rule_id: str = item_id_path(), rule: Rule = Body(openapi_examples=RULE_EXAMPLES),
                 state: ServiceState = Depends(service_state), served=Depends(engine)) -> dict:
    """Replace a rule (its id and creation time kept)."""
    prior = _known(state, MERCH_RULES, rule_id)
    _refuse(rule_refusals(rule, served))
    return put_item(state, MERCH_RULES, rule, rule_id, prior)


@router.delete("/v1/rules/{rule_id}", response_model=Deleted,
               responses={**ok(deleted=("deleted", {"id": "r-3f9a1c2e7b40", "deleted": True, "version": 4})),
                          **ONE})
def delete_rule(rule_id: str = item_id_path(), body: DeleteReason | None = Body(None, openapi_examples=WHY),
                reason: str | None = Query(None, max_length=200),
                state: ServiceState = Depends(service_state)) -> dict:
    """Delete a rule, with a reason (body ``{"reason"}`` or ``?reason=``)."""
    return delete_item(state, MERCH_RULES, rule_id, body, reason)


@router.get("/v1/rules/{rule_id}/history", response_model=History,
            responses={**ok(history=("a rule's changes", {"changes": [CHANGE]})), **ONE})
def rule_history(rule_id: str = item_id_path(), state: ServiceState = Depends(service_state)) -> dict:
    """Every change of a rule, deleted ones too: who, when, why, before and after."""
    return item_history(state, rule_id)


# ---- synonyms ------------------------------------------------------------------------------------
@router.get("/v1/synonyms", response_model=SynonymList, response_model_exclude_none=True,
            responses={**ok(synonyms=("the synonym sets", {"version": 3, "synonyms": [STORED_SYNONYM]})),
                       **READ})
def list_synonyms(include_history: bool = Query(False, description="each set's changes too"),
                  state: ServiceState = Depends(service_state)) -> dict:
    """The synonym sets, oldest first."""
    book = follower_of(state).book
    return {"version": book.version, "synonyms": list(book.synonyms),
            "history": _with_history(state, [s.id for s in book.synonyms], include_history)}


@router.post("/v1/synonyms", status_code=201, response_model=None,
             responses={**created(Synonym, STORED_SYNONYM), **WRITE})
def create_synonym(synonym: Synonym = Body(openapi_examples=SYNONYM_EXAMPLES),
                   state: ServiceState = Depends(service_state)) -> dict:
    """Create a synonym set (201 with its id)."""
    return put_item(state, MERCH_SYNONYMS, synonym, new_id(MERCH_SYNONYMS), None)


@router.get("/v1/synonyms/{synonym_id}", response_model=Synonym, response_model_exclude_none=True,
            responses={**ok(synonym=("a synonym set", STORED_SYNONYM)), **ONE})
def get_synonym(synonym_id: str = item_id_path(), state: ServiceState = Depends(service_state)) -> Any:
    """One synonym set in force."""
    return _known(state, MERCH_SYNONYMS, synonym_id)


@router.put("/v1/synonyms/{synonym_id}", response_model=Synonym, response_model_exclude_none=True,
            responses={**ok(synonym=("the stored set", STORED_SYNONYM)), **WRITE,
                       **errors(404, reasons=NOT_FOUND)})
def replace_synonym(synonym_id: str = item_id_path(),
                    synonym: Synonym = Body(openapi_examples=SYNONYM_EXAMPLES),
                    state: ServiceState = Depends(service_state)) -> dict:
    """Replace a synonym set (its id and creation time kept)."""
    prior = _known(state, MERCH_SYNONYMS, synonym_id)
    return put_item(state, MERCH_SYNONYMS, synonym, synonym_id, prior)


@router.delete("/v1/synonyms/{synonym_id}", response_model=Deleted,
               responses={**ok(deleted=("deleted", {"id": "s-81c0d4a29e11", "deleted": True, "version": 5})),
                          **ONE})
def delete_synonym(synonym_id: str = item_id_path(),
                   body: DeleteReason | None = Body(None, openapi_examples=WHY),
                   reason: str | None = Query(None, max_length=200),
                   state: ServiceState = Depends(service_state)) -> dict:
    """Delete a synonym set, with a reason."""
    return delete_item(state, MERCH_SYNONYMS, synonym_id, body, reason)


@router.get("/v1/synonyms/{synonym_id}/history", response_model=History,
            responses={**ok(history=("a set's changes", {"changes": [{**CHANGE, "kind": "synonym"}]})),
                       **ONE})
def synonym_history(synonym_id: str = item_id_path(), state: ServiceState = Depends(service_state)) -> dict:
    """Every change of a synonym set."""
    return item_history(state, synonym_id)


# ---- the whole book ------------------------------------------------------------------------------
@router.get("/v1/merchandising/history", response_model=History,
            responses={**ok(history=("changes since a moment", {"changes": [CHANGE]})), **READ})
def merchandising_history(since: int = Query(0, ge=0, description="UTC epoch ms: changes at or after it"),
                          kind: str | None = Query(None, pattern="^(rule|synonym)$"),
                          state: ServiceState = Depends(service_state)) -> dict:
    """The audit trail: every change of every rule and synonym set since ``since``, oldest first."""
    return {"changes": follower_of(state).state.changes_since(since, kind)}



@router.get("/v1/merchandising/export", response_model=MerchandisingFile, response_model_exclude_none=True,
            responses={**ok(file=("every rule and synonym set", FILE_EXAMPLE)), **READ})
def export_book(state: ServiceState = Depends(service_state)) -> dict:
    """Every rule and synonym set in one file (stable order), to review in git and import back."""
    return export_file(follower_of(state).state)


@router.post(IMPORT_PATH, response_model=Imported,
             responses={**ok(imported=("what was written", {"mode": "merge", "rules": 1, "synonyms": 1,
                                                            "deleted": 0, "version": 7})), **WRITE})
def import_book(file: MerchandisingFile = Body(openapi_examples={"file": {"summary": "an export",
                                                                          "value": FILE_EXAMPLE}}),
                mode: str = Query("merge", pattern="^(merge|replace)$",
                                  description="merge: put the file's items; replace: and delete the others"),
                state: ServiceState = Depends(service_state), served=Depends(engine)) -> dict:
    """Import an export file, checked whole first (422 naming every problem, nothing written);
    the file's items keep their ids; one durable append for the whole file."""
    follower = follower_of(state)
    lines = import_lines(follower.state, served, file, mode, _now_ms())
    book = write_changes(state, lines) if lines else follower.book
    puts = [t for t, line in lines if line["op"] == PUT]
    return {"mode": mode, "rules": puts.count(MERCH_RULES), "synonyms": puts.count(MERCH_SYNONYMS),
            "deleted": len(lines) - len(puts), "version": book.version}
