"""Pins: the pinned products added as candidates, and which pin gets which position.

:func:`pinned_list` adds every product a pin rule in force names to the recalled candidates, as
one more recall list (the ``pinned`` source) after the sources' in their union, so a pinned
product recall did not bring still gets features, a score and an explanation, and still meets the
filters (a banned, sold-out, unknown or hidden product is removed there: the governance filter
wins over a pin).

:func:`plan_pins` walks the pins in the conflict order (rule_index.py: priority, specificity,
newer; inside a rule, its products in order) and gives each its position unless it cannot be
honoured: the product was removed (the filter's reason), the position is past the page, another
pin took it first (``position_taken``), the product is already pinned higher (``pinned_earlier``)
or the page has ``merchandising.max_pins_per_page`` pins already (``over_limit``). The pinned
slots selector places the plan; the page reports the rest (:mod:`.page_report`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.merchandising.in_force import RulesInForce
from ranking.merchandising.rule import Rule
from ranking.merchandising.targets import among

PINNED = "pinned"  # the candidate source of pinned products, as a card's ``sources`` shows it


@dataclass(frozen=True)
class Pin:
    rule: Rule
    product_id: int
    position: int  # 1-based


@dataclass(frozen=True)
class PinPlan:
    placed: list[tuple[Pin, int]]  # (pin, candidate row), in the order placed
    failed: list[tuple[Pin, str]]  # (pin, why not honoured)


def pins_of(found: RulesInForce | None) -> list[Pin]:
    """The pins of the rules in force, in the conflict order (worked out once per set of rules)."""
    if found is None:
        return []
    pins = found.shared.get("pins")  # shared by the requests under the same rules (in_force.py)
    if pins is None:
        pins = found.shared["pins"] = [
            Pin(rule, int(p), int(at)) for rule in found.of("pin")
            for p, at in zip(rule.action.pin, rule.action.pin_positions(), strict=True)]
    return pins


def pinned_ids(found: RulesInForce) -> tuple[np.ndarray, np.ndarray]:
    """(each pin's product id, in the pins' order; the pinned products once each, in order), made
    once per set of rules (``found.shared``, read-only arrays: every request under the same rules
    reads them)."""
    made = found.shared.get("pinned_ids")
    if made is None:
        pins = pins_of(found)
        wanted = np.asarray([p.product_id for p in pins], dtype=np.int64)
        pinned = np.asarray(list(dict.fromkeys(p.product_id for p in pins)), dtype=np.int64)
        wanted.flags.writeable = pinned.flags.writeable = False
        made = found.shared["pinned_ids"] = (wanted, pinned)
    return made


def pinned_list(found: RulesInForce | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The pinned products as one more recall list, ``{"pinned": (ids, scores)}`` (none without a
    pin): each pinned product once, in :func:`pinned_ids`' order, scored 0. Listed after the
    sources' lists in :meth:`CandidateSet.union_counted`, it gives the candidates
    the union of the recalled candidates padded with the pinned products they lack would give,
    column for column, in one union (a test holds that padding as its reference). Made once per
    set of rules (read-only arrays)."""
    if found is None or not pins_of(found):
        return {}
    made = found.shared.get("pinned_list")  # shared by the requests under the same rules (in_force.py)
    if made is None:
        pinned = pinned_ids(found)[1]
        scores = np.zeros(len(pinned))
        scores.flags.writeable = False
        made = found.shared["pinned_list"] = {PINNED: (pinned, scores)}
    return made


def plan_pins(found: RulesInForce | None, product_ids: np.ndarray, size: int, max_pins: int) -> PinPlan:
    """Which pin takes which position on a ``size``-card page of these candidates (module docstring)."""
    placed: list[tuple[Pin, int]] = []
    failed: list[tuple[Pin, str]] = []
    pins = pins_of(found)
    if not pins:
        return PinPlan(placed, failed)
    # the selector's, then the report's, of the same candidate array: kept by that array's identity
    # (the entry holds it, so its id is not reused meanwhile), where hashing its bytes cost ~3 us a call
    key = ("plan", id(product_ids), size, max_pins)
    kept = found.derived.get(key) if found is not None else None
    if kept is not None and kept[0] is product_ids:
        return kept[1]
    wanted = pinned_ids(found)[0]  # type: ignore[arg-type]
    at = np.flatnonzero(among(product_ids, wanted))  # only the pinned products' rows, vectorised
    rows = dict(zip(np.asarray(product_ids)[at].tolist(), at.tolist(), strict=True))  # plain ints at once
    taken: set[int] = set()
    done: set[int] = set()
    for pin in pins:
        row = rows.get(pin.product_id)
        if row is None:
            failed.append((pin, "removed"))
        elif pin.product_id in done:
            failed.append((pin, "pinned_earlier"))
        elif pin.position > size:
            failed.append((pin, "beyond_page"))
        elif pin.position in taken:
            failed.append((pin, "position_taken"))
        elif len(placed) >= max_pins:
            failed.append((pin, "over_limit"))
        else:
            placed.append((pin, row))
            taken.add(pin.position)
            done.add(pin.product_id)
    plan = PinPlan(placed, failed)
    found.derived[key] = (product_ids, plan)  # type: ignore[union-attr]
    return plan
