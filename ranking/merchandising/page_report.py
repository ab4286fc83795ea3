"""What a page says about the operator's rules: unhonoured pins, displaced cards, redirect, rules applied.

After placement (:func:`report_page`):

* every pin that could not be honoured is a ``dropped`` entry, stage ``merchandising``, reason
  ``rule_pin:<rule id>:<why>``: the filter's reason when the product was removed (``banned``,
  ``out_of_stock``, ``unknown_product``, ``rule_hide:<id>``...), else ``position_taken``,
  ``pinned_earlier``, ``beyond_page`` or ``over_limit`` (:mod:`.pins`). The product may still
  be on the page by its own score: the entry says its pin was not kept;
* every card below a pinned position that no pin placed gets a ``merch_pinned_above`` note (the
  pinned cards above it moved it down); with a filter rule in force every card gets a
  ``merch_filter`` note naming it;
* ``redirect``: the first redirect rule in the conflict order (priority, specificity, newer), as
  ``{"rule_id", "channel"}`` or ``{"rule_id", "category_id"}``;
* ``rules_applied``: the ids of the rules that acted on this request (removed a candidate, placed
  a pin, moved a candidate, filtered the page, redirected), in the conflict order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ranking.merchandising.in_force import REASON_PREFIX, STAGE, RulesInForce, rule_name
from ranking.merchandising.pins import plan_pins
from ranking.merchandising.targets import describe
from ranking.pipeline.candidates import CandidateSet
from ranking.pipeline.dropped import DroppedEntries


@dataclass
class RulesReport:
    dropped: list[dict] = field(default_factory=list)
    rules_applied: list[str] = field(default_factory=list)
    redirect: dict | None = None


def _failed_pins(found: RulesInForce, cands: CandidateSet, dropped: DroppedEntries, size: int,
                 max_pins: int) -> tuple[list[dict], set[str]]:
    plan = plan_pins(found, cands.product_ids, size, max_pins)
    lost = {pin.product_id for pin, why in plan.failed if why == "removed"}
    removed = dropped.first_reasons(lost) if lost else {}
    out = []
    for pin, why in plan.failed:
        if why == "removed":
            why = removed.get(pin.product_id, "not_a_candidate")
        out.append({"product_id": pin.product_id, "reason": f"{REASON_PREFIX}pin:{rule_name(pin.rule)}:{why}",
                    "stage": STAGE})
    return out, {rule_name(pin.rule) for pin, _ in plan.placed}


def _note_page(found: RulesInForce, page: CandidateSet, pinned_at: dict[int, str]) -> None:
    """The ``merch_pinned_above`` notes, then each filter rule's note on every card. The cards
    between two pinned positions say the same, so each such run shares one note, and every card
    one copy of each filter's note, added in bulk (``RuleNotes.append``: each card's list the same,
    in the same order, as a note made and appended per card, ~1 us each)."""
    filters = _said(found)["filters"]
    if not pinned_at and not filters:
        return
    notes, n = page.rule_notes, len(page)
    pinned = sorted(p for p in pinned_at if 1 <= p <= n)  # 1-based positions on the page
    ids: list[str] = []
    for k, position in enumerate(pinned):
        ids = sorted({*ids, pinned_at[position]})
        below = range(position, pinned[k + 1] - 1 if k + 1 < len(pinned) else n)  # 0-based, to the next pin
        if len(below):
            above = k + 1
            notes.append(below, {"rule": "merch_pinned_above", "rule_ids": list(ids),
                                 "why": f"{above} pinned card{'s' if above > 1 else ''} above moved it down"})
    for note in filters:
        notes.append(range(n), dict(note))


def _moved(cands: CandidateSet) -> set[str]:
    return {note["rule_id"] for note, _ in cands.noted_moves
            if note.get("rule") in ("merch_boost", "merch_bury")}


def _said(found: RulesInForce) -> dict:
    """What the report says of the rules in force whatever the page, made once per set of rules
    (``found.shared``, read by every request under them): each rule's name, action and removal
    reason, the filter rules' notes and the redirect (copied before a page holds them)."""
    said = found.shared.get("report")
    if said is None:
        redirects = found.of("redirect")  # in the conflict order: the first one wins
        redirect = None
        if redirects:
            r = redirects[0]
            redirect = {"rule_id": rule_name(r), **r.action.redirect.model_dump(exclude_none=True)}
        said = found.shared["report"] = {
            "rules": [(rule_name(r), r.action.kind, f"{REASON_PREFIX}{r.action.kind}:{rule_name(r)}",
                       redirects and r is redirects[0]) for r in found.rules],
            "filters": [{"rule": "merch_filter", "rule_id": rule_name(r), "why": f"{r.reason} (only "
                         f"{describe(r.action.filter)})"} for r in found.of("filter")],
            "redirect": redirect, "removes": bool(found.of("hide", "filter")), "pins": bool(found.of("pin"))}
    return said


def report_page(found: RulesInForce | None, cands: CandidateSet, page: CandidateSet,
                dropped: DroppedEntries | list[dict], size: int, max_pins: int) -> RulesReport:
    """The page's rules report (module docstring); ``cands`` are the candidates placed from,
    ``dropped`` the page's entries so far (read by their arrays, not as dicts)."""
    if found is None:
        return RulesReport()
    if not isinstance(dropped, DroppedEntries):
        dropped = DroppedEntries(dropped)
    said = _said(found)
    pin_dropped, pinned = _failed_pins(found, cands, dropped, size, max_pins) if said["pins"] else ([], set())
    pinned_at = ({n["position"]: n["rule_id"] for notes in page.rule_notes for n in notes
                  if n.get("rule") == "merch_pin"} if said["pins"] else {})
    _note_page(found, page, pinned_at)
    removed_by = dropped.reasons_of(STAGE) if said["removes"] else set()
    moved = _moved(cands)
    applied = [name for name, kind, removal, redirects in said["rules"]
               if removal in removed_by or (kind == "pin" and name in pinned) or redirects
               or (kind in ("boost", "bury") and name in moved) or (kind == "filter" and len(page))]
    redirect = dict(said["redirect"]) if said["redirect"] is not None else None
    return RulesReport(pin_dropped, list(dict.fromkeys(applied)), redirect)
