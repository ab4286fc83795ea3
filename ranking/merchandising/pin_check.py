"""The refusal of a pin the served catalog cannot honour: an unknown, banned or sold-out product.

:func:`pin_problems` checks a rule's pinned products against the served product table (the
bundle's snapshot with the live catalog laid over it: bans, store bans and stock as they are
now) and names each product it cannot pin and why. The service refuses such a rule with a 422
and writes nothing. The RULES part's fuller ``rule_problems`` (a rule that would empty a page)
takes this one's place at the merge; the service calls it in one place
(``serving.merchandising.rule_refusals``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ranking.merchandising.rule import Rule


def pin_problems(rule: Rule, products: Any) -> list[tuple[list, str]]:
    """``(loc, why)`` for each pinned product ``products`` (an ``EntityTable``: ``rows(ids)``,
    ``columns``) does not know, or holds banned (itself or its store) or out of stock."""
    pins = rule.action.pin or []
    if not pins:
        return []
    ids = np.asarray(pins, dtype=np.int64)
    rows = products.rows(ids)
    cols = products.columns
    out = []
    for i, (pid, row) in enumerate(zip(ids.tolist(), rows.tolist(), strict=True)):
        where = ["body", "action", "pin", i]
        if row < 0:
            out.append((where, f"product {pid} is not in the served catalog"))
        elif cols["banned"][row] or ("store_banned" in cols and cols["store_banned"][row]):
            out.append((where, f"product {pid} is banned (itself or its store): a pin would show nothing"))
        elif cols["stock"][row] <= 0:
            out.append((where, f"product {pid} is sold out (stock 0): a pin would show nothing"))
    return out
